"""How long a callback body takes to be read or refused, by size: the strict reader's time grows
with the body, never with its square.

    .venv/bin/python bench/callback_parse.py [--repeat 5] [--smoke]

Bodies of 16, 64 and 256 KiB (the default BLUDASH_CALLBACK_MAX_BYTES), each through
`calls.ingest.callbacks.parse_body` as the view hands it over, the best of --repeat runs:
- pathological: what made the old depth check quadratic (`"` then `\\"` repeated: one string that
  never ends), brackets nested past the limit, and a flood of short strings;
- ordinary: a valid body of ten records whose extVars fill it to the size.
The old check (the string regex it replaced) is timed on the pathological body at 16 KiB only
(at 256 KiB it took minutes), as the naive figure. --smoke: 1, 4 and 16 KiB, one run each, so CI
keeps the script running. Run by hand, never by tests; bench/README.md has the figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bludash.settings")

KIB = 1024
# The depth check this replaced (before 3a1904e): it rescanned to the end from every open quote.
_OLD_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_OLD_BRACKET = re.compile(r"[\[\]{}]")


def old_depth(text: str) -> int:
    depth = deepest = 0
    for bracket in _OLD_BRACKET.finditer(_OLD_STRING.sub('""', text)):
        depth += 1 if bracket.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def unterminated_quotes(size: int) -> bytes:
    return ('{"taskId": "' + '\\"' * (size // 2)).encode()[:size]


def nested_brackets(size: int) -> bytes:
    return ("[" * size).encode()


def short_strings(size: int) -> bytes:
    return ("[" + '"a",' * (size // 4)).encode()[:size]


def ordinary(size: int) -> bytes:
    def body(padding: int) -> bytes:
        records = [
            {
                "callId": f"c{n}",
                "taskId": 66547748,
                "status": 2,
                "code": "PTP",
                "startTime": "2024-05-01 09:00:00",
                "extVars": json.dumps({"note": "x" * padding}),
            }
            for n in range(10)
        ]
        return json.dumps({"taskId": 66547748, "records": records}).encode()

    overhead = len(body(0))
    return body(max(0, (size - overhead) // 10))


PATHOLOGICAL: dict[str, Callable[[int], bytes]] = {
    "unterminated quotes": unterminated_quotes,
    "nested brackets": nested_brackets,
    "short strings": short_strings,
}


def best_of(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    sizes = [1 * KIB, 4 * KIB, 16 * KIB] if args.smoke else [16 * KIB, 64 * KIB, 256 * KIB]
    repeat = 1 if args.smoke else args.repeat

    import django

    django.setup()
    from calls.ingest.callbacks import BadCallback, parse_body

    def read(body: bytes) -> str:
        try:
            parse_body(body)
        except BadCallback as refused:
            return f"refused: {refused}"
        return "accepted"

    print(f"{'body':<22} {'size':>8} {'time':>10} {'per KiB':>10}  answer")
    for name, make in [*PATHOLOGICAL.items(), ("ordinary", ordinary)]:
        per_kib = []
        for size in sizes:
            body = make(size)
            answer = read(body)
            seconds = best_of(repeat, functools.partial(read, body))
            per_kib.append(seconds / (len(body) / KIB))
            print(
                f"{name:<22} {len(body) // KIB:>6} KiB {seconds * 1000:>8.2f} ms "
                f"{per_kib[-1] * 1e6:>7.1f} µs  {answer[:60]}"
            )
        # Linear: the time per KiB stays flat as the body grows 16-fold.
        print(
            f"{'':<22} growth of the time per KiB, smallest to largest: "
            f"{per_kib[-1] / per_kib[0]:.2f}x"
        )

    body = unterminated_quotes(sizes[0])
    ours = best_of(repeat, lambda: read(body))
    old = best_of(1, lambda: old_depth(body.decode()))
    print(
        f"\nunterminated quotes at {sizes[0] // KIB} KiB: the old check {old * 1000:.0f} ms, "
        f"ours {ours * 1000:.2f} ms: {old / ours:.0f}x faster"
    )


if __name__ == "__main__":
    main()
