"""PII detectors: e-mail, phone numbers, payment cards (Luhn), IBAN (mod 97), US SSN, IP."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from govledger.proxy.guardrails.checksums import iban_valid, luhn_valid
from govledger.proxy.guardrails.findings import Finding

EMAIL = re.compile(
    r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}"
)
# International (+ and 8-15 digits) or North-American (3-3-4) numbers, separators allowed.
PHONE = re.compile(
    r"(?<![\w+])(?:\+[1-9]\d{0,2}[ .-]?(?:\(?\d{1,4}\)?[ .-]?){1,4}\d{2,4}"
    r"|\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b)(?![\w])"
)
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
IPV4 = re.compile(
    r"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\d.])"
)
IPV6 = re.compile(r"(?<![:\w])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![:\w])")


def emails(text: str) -> Iterator[Finding]:
    """E-mail addresses."""
    for m in EMAIL.finditer(text):
        yield Finding("pii.email", "email", m.start(), m.end())


def phones(text: str) -> Iterator[Finding]:
    """Phone numbers: international with `+` (8 to 15 digits) or North-American 3-3-4."""
    for m in PHONE.finditer(text):
        digits = sum(c.isdigit() for c in m.group())
        if 8 <= digits <= 15 and not SSN.fullmatch(m.group()):
            yield Finding("pii.phone", "phone_number", m.start(), m.end())


def cards(text: str) -> Iterator[Finding]:
    """Payment card numbers: 13 to 19 digits (spaces or dashes between) passing Luhn."""
    for m in CARD.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            yield Finding("pii.card", "payment_card", m.start(), m.end())


def ibans(text: str) -> Iterator[Finding]:
    """IBANs (grouped by spaces or not) passing their mod-97 checksum."""
    for m in IBAN.finditer(text):
        if iban_valid(m.group().replace(" ", "")):
            yield Finding("pii.iban", "iban", m.start(), m.end())


def ssns(text: str) -> Iterator[Finding]:
    """US social security numbers written AAA-GG-SSSS, without the never-issued ranges."""
    for m in SSN.finditer(text):
        yield Finding("pii.ssn", "us_ssn", m.start(), m.end())


def ip_addresses(text: str) -> Iterator[Finding]:
    """IPv4 and IPv6 addresses (IPv6 validated by the standard library)."""
    for m in IPV4.finditer(text):
        yield Finding("pii.ip", "ip_address", m.start(), m.end())
    if ":" not in text:
        return
    for m in IPV6.finditer(text):
        try:
            ipaddress.IPv6Address(m.group().split("%")[0])
        except ValueError:
            continue
        yield Finding("pii.ip", "ip_address", m.start(), m.end())
