"""Where command output goes: a wide console when stdout is a file or a pipe (logs, CI,
``| less``), since rich would otherwise wrap tables at 80 columns."""

from __future__ import annotations

import sys

from rich.console import Console

PIPE_WIDTH = 170


def stdout_console() -> Console:
    """The terminal's own width on a TTY, ``PIPE_WIDTH`` columns elsewhere."""
    return Console() if sys.stdout.isatty() else Console(width=PIPE_WIDTH)
