"""PII detectors: e-mail, phone numbers, payment cards (Luhn), IBAN (mod 97), US SSN, IP."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

from govledger.proxy.guardrails.checksums import iban_valid, luhn_valid
from govledger.proxy.guardrails.findings import Finding
from govledger.proxy.guardrails.linear import compile_linear, spans

EMAIL = compile_linear(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
)
# International (+ and 8-15 digits) or North-American (3-3-4) numbers, separators allowed.
PHONE = compile_linear(
    r"\+[1-9]\d{0,2}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){1,4}\d{2,4}"
    r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}"
)
CARD = compile_linear(r"\d(?:[ -]?\d){12,18}")
IBAN = compile_linear(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
SSN = compile_linear(r"\d{3}-\d{2}-\d{4}")
IPV4 = compile_linear(r"(?:\d{1,3}\.){3}\d{1,3}")
IPV6 = compile_linear(r"(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}")


def _around(text: str, start: int, end: int, forbidden: str) -> bool:
    """True if neither neighbour of the span is a letter/digit/underscore or in `forbidden`."""
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return not (before.isalnum() or before == "_" or before in forbidden) and not (
        after.isalnum() or after == "_" or after in forbidden
    )


def emails(text: str) -> Iterator[Finding]:
    """E-mail addresses."""
    if "@" not in text:
        return
    for start, end in spans(EMAIL, text):
        yield Finding("pii.email", "email", start, end)


def phones(text: str) -> Iterator[Finding]:
    """Phone numbers: international with `+` (8 to 15 digits) or North-American 3-3-4."""
    for start, end in spans(PHONE, text):
        if not _around(text, start, end, "+"):
            continue
        digits = sum(c.isdigit() for c in text[start:end])
        if 8 <= digits <= 15:
            yield Finding("pii.phone", "phone_number", start, end)


def cards(text: str) -> Iterator[Finding]:
    """Payment card numbers: 13 to 19 digits (spaces or dashes between) passing Luhn."""
    for start, end in spans(CARD, text):
        if (start > 0 and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit()):
            continue
        digits = text[start:end].replace(" ", "").replace("-", "")
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield Finding("pii.card", "payment_card", start, end)


def ibans(text: str) -> Iterator[Finding]:
    """IBANs (grouped by spaces or not) passing their mod-97 checksum."""
    for start, end in spans(IBAN, text):
        if _around(text, start, end, "") and iban_valid(text[start:end].replace(" ", "")):
            yield Finding("pii.iban", "iban", start, end)


def ssns(text: str) -> Iterator[Finding]:
    """US social security numbers written AAA-GG-SSSS, without the never-issued ranges."""
    if "-" not in text:
        return
    for start, end in spans(SSN, text):
        area, group, serial = text[start:end].split("-")
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
            continue
        if _around(text, start, end, "-"):
            yield Finding("pii.ssn", "us_ssn", start, end)


def ip_addresses(text: str) -> Iterator[Finding]:
    """IPv4 and IPv6 addresses (IPv6 validated by the standard library)."""
    if "." in text:
        for start, end in spans(IPV4, text):
            octets = text[start:end].split(".")
            valid = all(int(o) <= 255 and (o == "0" or o[0] != "0") for o in octets)
            if valid and _around(text, start, end, "."):
                yield Finding("pii.ip", "ip_address", start, end)
    if "::" not in text and text.count(":") < 7:
        return
    for start, end in spans(IPV6, text):
        if end - start < 3 or not _around(text, start, end, ":"):
            continue
        try:
            ipaddress.IPv6Address(text[start:end])
        except ValueError:
            continue
        yield Finding("pii.ip", "ip_address", start, end)
