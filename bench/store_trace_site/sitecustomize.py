"""Run at start-up by any Python whose ``PYTHONPATH`` holds this folder.

With ``THONGBAO_BENCH_STORE_TRACE`` set (``bench/sms_fanout.py --trace-store``), the
process times its store's write transactions: see ``bench/store_trace.py``.
"""

from __future__ import annotations

import os

if os.environ.get("THONGBAO_BENCH_STORE_TRACE"):
    import importlib.util
    import sys
    from pathlib import Path

    _spec = importlib.util.spec_from_file_location(
        "store_trace", Path(__file__).resolve().parents[1] / "store_trace.py"
    )
    assert _spec is not None and _spec.loader is not None
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["store_trace"] = _module
    _spec.loader.exec_module(_module)
    _module.install(os.environ["THONGBAO_BENCH_STORE_TRACE"])
