"""How a command stopped by Ctrl-C or SIGTERM ends: a line saying what happens next, exit 130
or 143. The signals reach the driver as KeyboardInterrupt (``run.signals.honour_stop_signals``)
because:

A process started in the background of a script (``cmd &`` without job control, e.g. ``srun
ray start --block &`` in a batch script, and everything Ray later spawns from it) begins with
SIGINT ignored, and Python then leaves it ignored. A Ray job stopped with SIGINT, or a SLURM
job signalled before its time limit, would then not stop its study cleanly (running trials
failed and enqueued again) but be killed after the grace period instead. Schedulers (SLURM,
Kubernetes, systemd) stop jobs with SIGTERM, which Python (and Ray) would end with a hard exit:
it stops a study the same way, with exit status 143 (Ctrl-C: 130).
"""

from __future__ import annotations

import typer
from rich.console import Console

from initsearch.run.signals import exit_code, terminated


def stopped(err: KeyboardInterrupt, console: Console, what_now: str) -> typer.Exit:
    """Say how the command was stopped and what happens next; the exit to raise."""
    how = "terminated (SIGTERM)" if terminated(err) else "interrupted"
    console.print(f"[yellow]{how}: {what_now}[/]")
    return typer.Exit(exit_code(err))
