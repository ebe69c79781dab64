"""Stop signals: SIGTERM stops a study exactly as Ctrl-C does, and never in the middle of a
record.

Schedulers (SLURM, Kubernetes, systemd, ``ray job stop``) stop a job with SIGTERM. Python's
default is to die on the spot, and ``ray.init`` installs a handler that calls ``sys.exit``:
either way running trials stayed RUNNING and the MLflow parent run was marked FINISHED.
:func:`honour_stop_signals` turns SIGTERM into :class:`Terminated`, a ``KeyboardInterrupt``,
so every ``except KeyboardInterrupt`` that cleans up after Ctrl-C cleans up after SIGTERM too;
:func:`keep_stop_signals` puts it back after Ray replaced it.

A signal that lands while a trial is being written down (its MLflow run, its attributes, the
state Optuna is told) would split that record: an MLflow run FINISHED for a trial Optuna has
failed, or a run without an end. :func:`deferred_signals` holds SIGINT and SIGTERM for the
length of such a step and raises them right after it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPTED = "interrupted by the user"  # the reason of trials stopped by Ctrl-C


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C; the command exits with 128 + 15, as the shell reports a
    process ended by SIGTERM."""

    exit_code = 128 + signal.SIGTERM
    reason = "interrupted by SIGTERM (asked to stop)"


_last_stop: int | None = None  # the last stop signal this process's handlers received


def terminated(err: BaseException) -> bool:
    """Whether ``err`` stopped the process for SIGTERM. Ray turns any KeyboardInterrupt
    raised while it waits into a plain one, so the signal received counts too."""
    return isinstance(err, Terminated) or _last_stop == signal.SIGTERM


def stop_reason(err: BaseException) -> str:
    """The reason a trial stopped by ``err`` is failed with."""
    return Terminated.reason if terminated(err) else INTERRUPTED


def exit_code(err: BaseException) -> int:
    """The exit status of a command stopped by ``err``: 130 for Ctrl-C, 143 for SIGTERM."""
    return Terminated.exit_code if terminated(err) else 128 + signal.SIGINT


def _interrupt(signum: int, frame: FrameType | None) -> None:
    global _last_stop
    _last_stop = signum
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt


_honoured = False


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def honour_stop_signals() -> None:
    """Ctrl-C raises KeyboardInterrupt whatever this process inherited (a background command
    of a script starts with SIGINT ignored), SIGTERM raises :class:`Terminated`. For
    commands: a library must not take SIGTERM from the program that imports it."""
    global _honoured
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    _honoured = True


def keep_stop_signals() -> None:
    """Put the handlers of :func:`honour_stop_signals` back if this process asked for them
    (``ray.init`` replaces the SIGTERM handler); a no-op otherwise and off the main thread."""
    if _honoured and _main_thread():
        honour_stop_signals()


_depth = 0


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then raise the first one that came.

    Reentrant (an inner block defers to the outer one). Off the main thread it does nothing:
    Python delivers signals to the main thread only, so they cannot interrupt this one."""
    global _depth
    if not _main_thread():
        yield
        return
    if _depth:
        _depth += 1
        try:
            yield
        finally:
            _depth -= 1
        return
    caught: list[int] = []
    holding = True

    def hold(signum: int, frame: FrameType | None) -> None:
        if holding:
            caught.append(signum)
            return
        # the block has ended but this handler was not put back yet (a signal cut the restore
        # short): put it back now and let it handle this signal
        signal.signal(signum, previous[signum])
        signal.raise_signal(signum)

    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    swapped = [s for s, handler in previous.items() if handler is not None]  # None: set in C
    for s in swapped:
        signal.signal(s, hold)
    _depth = 1
    try:
        yield
    finally:
        _depth, holding = 0, False
        for s in swapped:
            signal.signal(s, previous[s])
        if caught:
            signal.raise_signal(caught[0])  # its own handler runs now, as if it just came
