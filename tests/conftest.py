"""Test-session settings.

Tests train tiny models, for which one intra-op thread is faster than two and immune to the
slowdown two threads suffer when other processes (Ray workers, subprocess CLIs) share the
cores; results do not depend on it (each test compares runs made in the same setting).
"""

from __future__ import annotations

import signal

import torch

torch.set_num_threads(1)

# Ctrl-C tests send SIGINT to the programs they start. Started from a script's background
# (`cmd &` without job control, as some CI runners do), this process and everything it starts
# would inherit SIGINT *ignored*, which no child can undo in bash (`trap` cannot catch a signal
# ignored on entry). A Python handler here makes every child start with the default action.
signal.signal(signal.SIGINT, signal.default_int_handler)
