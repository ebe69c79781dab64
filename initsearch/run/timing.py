"""Start-up timestamps for benchmarks: ``INITSEARCH_TIMING=1`` prints ``initsearch-timing NAME
EPOCH_SECONDS`` lines to stderr at the steps of ``study start`` (Ray up, stores open, first
trial submitted, search done), so benchmarks/quickstart_vs_optuna.py can split a run's wall
time from outside the process. Off by default: nothing is printed.
"""

from __future__ import annotations

import os
import sys
import time

TIMING_ENV = "INITSEARCH_TIMING"


def mark(name: str) -> None:
    """Print a timestamp named ``name`` when timing is on."""
    if os.environ.get(TIMING_ENV, "") not in ("", "0"):
        print(f"initsearch-timing {name} {time.time():.3f}", file=sys.stderr, flush=True)
