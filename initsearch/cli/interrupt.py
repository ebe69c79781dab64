"""Ctrl-C (SIGINT) must reach the study driver as KeyboardInterrupt.

A process started in the background of a script (``cmd &`` without job control, e.g. ``srun
ray start --block &`` in a batch script, and everything Ray later spawns from it) begins with
SIGINT ignored, and Python then leaves it ignored. A Ray job stopped with SIGINT, or a SLURM
job signalled before its time limit, would then not stop its study cleanly (running trials
failed and enqueued again) but be killed after the grace period instead.
"""

from __future__ import annotations

import signal


def honour_ctrl_c() -> None:
    """Turn SIGINT into KeyboardInterrupt whatever this process inherited."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
