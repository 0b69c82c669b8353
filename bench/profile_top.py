"""Top functions of a py-spy raw (collapsed stacks) profile, by self and by total samples.

Usage: ``python bench/profile_top.py bench/out/profile-single.txt [--top 30]``
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r" \(.*?:\d+\)$")


def frame_name(frame: str) -> str:
    """``function (file.py:line)`` without the line, and the path shortened."""
    name = frame.strip()
    m = re.match(r"(?P<fn>.*?) \((?P<file>.*?)(?::\d+)?\)$", name)
    if not m:
        return name
    file = m["file"]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m['fn']} ({file})"


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in Path(args.profile).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";")]
        samples += n
        own[frames[-1]] += n
        for name in set(frames):
            total[name] += n
    print(f"{samples} samples\n\nself %  function")
    for name, n in own.most_common(args.top):
        print(f"{100 * n / samples:6.1f}  {name}")
    print("\ntotal %  function")
    for name, n in total.most_common(args.top):
        print(f"{100 * n / samples:6.1f}  {name}")


if __name__ == "__main__":
    main()
