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

from govledger.ledger.config import GUARDRAIL_CHECKS
from govledger.proxy.guardrails import text_slots
from govledger.proxy.guardrails.policy import Policy, compile_policy, evaluate

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
    {"type": t, "action": "redact"} for t in GUARDRAIL_CHECKS if t.startswith(("pii.", "secrets."))
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


def _through_a_body(policy: Policy, text: str, repeat: int) -> float:
    """Median ms to read a chat body's text (8 messages), check it and mask it in place."""
    size = len(text) // 8 + 1
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    times = []
    for _ in range(repeat):
        body = {"model": "m1", "messages": [{"role": "user", "content": p} for p in parts]}
        start = time.perf_counter()
        found = text_slots.slots(body, text_slots.INPUT_ROOTS["openai_chat"])
        joined = text_slots.joined(found)
        verdict = evaluate([policy], joined, time.perf_counter)
        spans = [(t.start, t.end) for t in verdict.triggered if t.action == "redact"]
        text_slots.write_back(found, spans)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


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
        body_ms = _through_a_body(policy, text, args.repeat)
        accented = text.replace("quick", "quïck")  # not ASCII: offsets are converted
        accented_times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            evaluate([policy], accented, time.perf_counter)
            accented_times.append(time.perf_counter() - start)
        rows.append(
            {
                "kib": kib,
                "median_ms": round(median * 1000, 4),
                "ms_per_kib": round(median * 1000 / kib, 4),
                "findings": len(verdict.triggered),
                "chat_body_ms_per_kib": round(body_ms / kib, 4),
                "non_ascii_ms_per_kib": round(statistics.median(accented_times) * 1000 / kib, 4),
            }
        )
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
