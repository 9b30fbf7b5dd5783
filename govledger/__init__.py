"""govledger: an LLM gateway whose governance is an event-sourced ledger."""

__version__ = "0.2.0"
