"""Compliance: access reviews at an instant, their changes, control evidence of a period."""
