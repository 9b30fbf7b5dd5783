"""Checksums that tell a real identifier from digits that only look like one."""

from __future__ import annotations


def luhn_valid(digits: str) -> bool:
    """True if a string of digits passes the Luhn check (payment cards)."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(iban: str) -> bool:
    """True if an IBAN (letters and digits, no spaces) passes its ISO 13616 mod-97 check."""
    if len(iban) < 15 or len(iban) > 34:
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(c, 36)) for c in moved)
    return int(number) % 97 == 1
