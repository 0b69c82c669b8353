"""The garbage collector's settings for a long-running thongbao process.

A started service holds a large heap that lives as long as it does: modules, pydantic's
compiled validators, plugins, settings. CPython's full collections walk all of it again and
again, and young collections run every 700 allocations; under a bulk send that was about a
sixth of the service's CPU (bench/README.md). Once the service is up, :func:`settle` moves
what is alive into the permanent generation, which the collector never walks (the use
``gc.freeze`` is documented for), and lets more objects be allocated between young
collections.
"""

from __future__ import annotations

import gc

# Objects allocated, less those freed, between two young collections (CPython's default is
# 700). Most objects of a send are freed by reference counting before they count here;
# only cycles wait for the collector, a little longer.
YOUNG_THRESHOLD = 10_000


def settle() -> int:
    """Collect once, freeze what survives and raise the young threshold; call it once,
    when the process has started. Returns the number of objects frozen."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    return gc.get_freeze_count()
