"""Where a py-spy raw (collapsed stacks) profile of the service spends its samples: by part
of the send path, then the top functions by self and by total samples.

Usage: ``python bench/profile_top.py bench/out/profile-single.txt [--top 30]``
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r" \(.*?:\d+\)$")

# Parts of the send path, by a marker in any frame of a sample's stack; the first part that
# matches takes the sample. The SQLite writer's thread comes first: its samples are store
# work whatever called it.
PARTS = (
    ("store (SQLite threads)", ("_connection_worker_thread",)),
    (
        "gateway requests (aiohttp client)",
        ("GenericHttpTransport._request", "aiohttp/client", "aiohttp/connector"),
    ),
    ("API requests (delivery reports, polling)", ("aiohttp/web_protocol", "aiohttp/web_")),
    ("fan-out", ("dispatcher/fanout",)),
    ("worker: render, judge, build requests", ("dispatcher/worker", "plugins/sms/")),
    ("status changes (observers, metrics)", ("dispatcher/engine", "dispatcher/observers")),
)


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


def part_of(stack: str) -> str:
    """The part of the send path a sample's stack belongs to (see PARTS)."""
    for name, markers in PARTS:
        if any(marker in stack for marker in markers):
            return name
    return "other (event loop, timers, start-up)"


def main() -> None:
    """Print the tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("profile")
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    samples = 0
    for line in Path(args.profile).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [frame_name(f) for f in stack.split(";")]
        samples += n
        parts[part_of(stack)] += n
        own[frames[-1]] += n
        for name in set(frames):
            total[name] += n
    print(f"{samples} samples\n\npart %  part of the send path")
    for name, n in parts.most_common():
        print(f"{100 * n / samples:6.1f}  {name}")
    print("\nself %  function")
    for name, n in own.most_common(args.top):
        print(f"{100 * n / samples:6.1f}  {name}")
    print("\ntotal %  function")
    for name, n in total.most_common(args.top):
        print(f"{100 * n / samples:6.1f}  {name}")


if __name__ == "__main__":
    main()
