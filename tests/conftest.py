"""Test-session settings.

Tests train tiny models, for which one intra-op thread is faster than two and immune to the
slowdown two threads suffer when other processes (Ray workers, subprocess CLIs) share the
cores; results do not depend on it (each test compares runs made in the same setting).
"""

from __future__ import annotations

import torch

torch.set_num_threads(1)
