"""The top functions of a py-spy profile in collapsed-stack form (``py-spy record --format raw``).

Prints, for the functions that cost most, their share of all samples spent in the function
itself (self) and in it or anything it called (total), so a profile can be read without a
flame-graph viewer:

    .venv/bin/python bench/profile_top.py PROFILE.txt [--top 25]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path


def summarise(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        frames = [frame.split(" (", 1)[0] + _where(frame) for frame in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    return samples, own, total


def _where(frame: str) -> str:
    """`` (file)`` for a frame ``name (path:line)``, the path shortened to its last parts."""
    _, _, place = frame.partition(" (")
    file = place.rsplit(":", 1)[0]
    return f" ({'/'.join(file.split('/')[-2:])})" if file else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    samples, own, total = summarise(args.profile)
    if not samples:
        print("no samples", file=sys.stderr)
        return 1
    print(f"{samples} samples\n\nself %   function")
    for frame, count in own.most_common(args.top):
        print(f"{100 * count / samples:6.1f}   {frame}")
    print("\ntotal %  function")
    for frame, count in total.most_common(args.top):
        print(f"{100 * count / samples:6.1f}   {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
