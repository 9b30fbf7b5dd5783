"""Added latency of the built-in guardrail checks per KiB of prompt (goal <= 0.1 ms/KiB).

Runs every built-in check (each PII and secret detector, a 50-word keyword list, five RE2
patterns, the size check and the injection heuristic) in one policy over prompts of
1, 4, 16 and 64 KiB of seeded pseudo-prose with a few findings, and prints the median
time per KiB. `python bench/guardrails.py [--repeat N]`.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

from govledger.proxy.guardrails.policy import compile_policy, evaluate

PROSE = (
    "the quick brown fox jumps over a lazy dog while 42 reports arrive on time and the team"
    " reviews budget figures for quarter 3 before sending them to finance at noon"
)
WORDS = tuple(PROSE.split())
FINDINGS = [
    "bob@example.com",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "123-45-6789",
    "10.0.0.1",
    "+44 20 7946 0958",
    "sk-proj-abcdefghijklmnopqrstuvwx",
]
CHECKS = [
    {"type": t, "action": "redact"}
    for t in (
        "pii.email",
        "pii.phone",
        "pii.card",
        "pii.iban",
        "pii.ssn",
        "pii.ip",
        "secrets.api_key",
        "secrets.private_key",
        "secrets.jwt",
        "secrets.gateway_key",
    )
] + [
    {"type": "deny.keywords", "keywords": [f"forbidden{i}" for i in range(50)], "action": "flag"},
    {
        "type": "deny.regex",
        "patterns": [
            r"project\s+x\d+",
            r"(a+)+b",
            r"acme-[0-9]{6}",
            r"internal only",
            r"codename\s+\w+",
        ],
        "action": "flag",
    },
    {"type": "size.max_prompt", "max_bytes": 1 << 30, "action": "block"},
    {"type": "injection.heuristic", "action": "flag"},
]


def prompt(kib: int, rng: random.Random) -> str:
    """About `kib` KiB of prose with a finding every ~2 KiB."""
    parts: list[str] = []
    size = 0
    while size < kib * 1024:
        word = rng.choice(WORDS) if rng.random() > 0.002 else rng.choice(FINDINGS)
        parts.append(word)
        size += len(word) + 1
    return " ".join(parts)[: kib * 1024]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    policy = compile_policy("bench", {"checks": CHECKS})
    rng = random.Random(16)
    rows = []
    for kib in (1, 4, 16, 64):
        text = prompt(kib, rng)
        evaluate([policy], text, time.perf_counter)  # warm up
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            verdict = evaluate([policy], text, time.perf_counter)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        rows.append(
            {
                "kib": kib,
                "median_ms": round(median * 1000, 4),
                "ms_per_kib": round(median * 1000 / kib, 4),
                "findings": len(verdict.triggered),
            }
        )
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
