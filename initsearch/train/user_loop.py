"""A researcher's own training function in place of the built-in loop, its seeds in lockstep.

The function (``TrialSpec.loop``) is called once per member, with the member's initialised
model (built and initialised exactly as the engine builds it), the trial's data on the device
(:class:`~initsearch.data.Dataset`; treat it as read-only, the members share it) and::

    fn(model, data, seed=seed, report=report, **extras, **loop.kwargs)

``extras`` are those of ``epochs`` (the budget's), ``device`` (a string), ``batch_size`` and
``lr`` that its signature names (all of them if it takes ``**kwargs``). The function trains
and calls ``report(epoch, **metrics)`` after each epoch, with epochs 1, 2, 3, ...; metrics it
leaves out are measured by the platform (:mod:`initsearch.train.user_protocol` has the rules
and the curve they make). ``report`` raises :class:`StopTrial` when the run ends: the budget's
last epoch was reported, the run diverged, the pruner stopped it, or another member failed.
Let it propagate (``try/finally`` for clean-up is fine); a function that catches it should
return. A function may also return early: the run is "completed" with the epochs it reported.

Why threads: the function owns its loop, so the platform cannot call it an epoch at a time,
yet a trial's pruner decides on the mean curve over its seeds, after every epoch. Each member
runs in a thread of its own, but only one runs at a time: the calling thread hands the turn to
member 0 until it reports epoch e, then to member 1, ..., then calls ``on_epoch``. Each member
keeps its own state of torch's global generators across hand-overs, so a member draws exactly
what it would draw alone (its curve equals its one-seed run's). Nothing runs concurrently, so
the function needs no locks, and an exception in any member ends the call: the other members
are stopped, every thread is joined, and the exception is raised in the calling thread.
"""

from __future__ import annotations

import threading
import time

import torch

from initsearch.data import Dataset
from initsearch.errors import ConfigError
from initsearch.train.curve import Curve, summarize
from initsearch.train.engine import (
    TrialResult,
    build_member,
    data_chance,
    load_trial_data,
    resolve_device,
    rng_state,
    set_rng_state,
)
from initsearch.train.pack import PackEpochCallback, check_packable
from initsearch.train.spec import TrialSpec
from initsearch.train.user_protocol import EpochRecorder, LoopCall, loop_call

POLL_SECONDS = 1.0  # how often a waiting caller checks that the member's thread still lives


class StopTrial(Exception):
    """Raised by ``report`` when the platform ends this run (budget reached, diverged, pruned,
    or another member failed): let it propagate out of the training function."""


class UserMember:
    """One member: its model, its thread running the function, its curve and how it ended.

    The calling thread uses :meth:`turn` (run the member until it reports or ends), :meth:`stop`
    and :meth:`close`; the member's thread runs :meth:`main` and, inside the function,
    :meth:`report`. Two events pass the turn, so exactly one of the two threads runs.
    """

    def __init__(
        self,
        index: int,
        spec: TrialSpec,
        data: Dataset,
        device: torch.device,
        call: LoopCall,
    ) -> None:
        self.spec, self.data, self.device = spec, data, device
        self.fn, self.name, self.kwargs = call
        self.model, self.init_report = build_member(spec, data, device)
        self.rng = rng_state(device)  # as build_member left it: where a lone run starts
        self.recorder = EpochRecorder(spec, self.name, self.model, data, device)
        self.status, self.reason = "running", None
        self.error: BaseException | None = None  # what ends the whole call
        self.aborting = False  # another member failed: end without recording
        self.ended = False  # the function returned or raised
        self.resumed = 0.0  # when this member's current turn began
        self._go, self._back = threading.Event(), threading.Event()
        self.thread = threading.Thread(
            target=self.main, name=f"initsearch-loop-{index}-seed-{spec.seed}", daemon=True
        )

    @property
    def curve(self) -> Curve:
        return self.recorder.curve

    # --- the calling thread ---

    def turn(self) -> None:
        """Let the member run until it reports an epoch, or its function ends."""
        set_rng_state(self.device, self.rng)
        self._back.clear()
        self._go.set()
        while not self._back.wait(POLL_SECONDS):
            if not self.thread.is_alive():
                break
        self.rng = rng_state(self.device)

    def settle(self) -> None:
        """After a turn: raise what the member raised; a function that returned is done."""
        if self.error is not None:
            raise self.error
        if self.ended and self.status == "running":
            if self.recorder.epochs == 0 and not self.aborting:
                raise ConfigError(
                    f"training function {self.name!r} returned without calling "
                    "report(epoch, ...); call it after every epoch"
                )
            self.status = "completed"
            if self.recorder.epochs < self.spec.budget.epochs:
                self.reason = (
                    f"training function returned after {self.recorder.epochs} of "
                    f"{self.spec.budget.epochs} epochs"
                )

    def stop(self, epoch: int) -> None:
        """The pruner's decision: the member's pending ``report`` raises StopTrial."""
        self.status, self.reason = "stopped", f"stopped by callback after epoch {epoch}"

    def close(self) -> None:
        """End the member's thread (StopTrial from its next ``report``) and join it."""
        if self.thread.ident is None:  # never started
            return
        while not self.ended and self.thread.is_alive():
            self.aborting = True
            self.turn()
        self.thread.join()

    def result(self) -> TrialResult:
        budget = self.spec.budget
        status = "completed" if self.status == "running" else self.status
        summary = summarize(  # steps are the loop's own: the training-loss record counts epochs
            self.curve,
            budget.epochs,
            budget.target_accuracy,
            data_chance(self.data),
            self.data.num_classes,
            completed=status == "completed",
        )
        return TrialResult(
            status=status,
            curve=self.curve,
            summary=summary,
            init=self.init_report,
            reason=self.reason,
            num_parameters=sum(p.numel() for p in self.model.parameters()),
            device=str(self.device),
            spec=self.spec.to_dict(),
        )

    # --- the member's thread ---

    def main(self) -> None:
        try:
            self._go.wait()
            if not self.aborting:
                self.resumed = time.perf_counter()
                self.fn(
                    self.model, self.data, seed=self.spec.seed, report=self.report, **self.kwargs
                )
        except StopTrial:
            pass
        except BaseException as err:  # noqa: BLE001 - handed to the calling thread
            self.error = self.error or err
        finally:
            self.ended = True
            self._back.set()

    def report(self, epoch: int, **metrics: float) -> None:
        """Record epoch ``epoch`` (1, 2, 3, ...) with any of ``val_loss``, ``val_accuracy``,
        ``test_loss``, ``test_accuracy``, ``train_loss`` (the epoch's mean) and metrics of
        your own; returns when it is this member's turn again, or raises StopTrial."""
        if self.error is not None or self.aborting or self.status != "running":
            raise StopTrial(self.reason or "the trial has ended")
        seconds = time.perf_counter() - self.resumed
        try:
            diverged = self.recorder.record(epoch, metrics, seconds)
        except ConfigError as err:
            self.error = err
            raise
        if diverged is not None:
            self.status, self.reason = "diverged", diverged
            raise StopTrial(diverged)
        if self.recorder.epochs == self.spec.budget.epochs:
            self.status = "completed"
            raise StopTrial(f"the budget's {self.spec.budget.epochs} epochs are done")
        self._go.clear()
        self._back.set()
        self._go.wait()
        if self.aborting or self.status != "running":
            raise StopTrial(self.reason or "another member of the trial failed")
        self.resumed = time.perf_counter()


def run_user_members(
    specs: list[TrialSpec],
    dataset: Dataset | None = None,
    on_epoch: PackEpochCallback | None = None,
) -> list[TrialResult]:
    """Train ``specs`` (equal but for init and seed) with their training function; one
    result per spec, in order. ``on_epoch(epoch, {member index: curve})`` is called once
    after each epoch with every member that reported it and still runs (a member that
    reached the budget's last epoch included, a diverged one not); it returns the indices of
    the members to stop. Raises what a member's function raised (after stopping the others)."""
    check_packable(specs)
    device = resolve_device(specs[0].device)
    call = loop_call(specs[0], device)
    data = load_trial_data(specs[0], dataset, device)
    members: list[UserMember] = []
    try:
        members += [UserMember(k, spec, data, device, call) for k, spec in enumerate(specs)]
        for member in members:
            member.thread.start()
        lockstep(members, on_epoch)
    finally:
        for member in members:
            member.close()
    return [member.result() for member in members]


def lockstep(members: list[UserMember], on_epoch: PackEpochCallback | None) -> None:
    """Epoch by epoch: each running member's turn in order, then ``on_epoch``."""
    epoch = 0
    while running := [k for k, member in enumerate(members) if member.status == "running"]:
        epoch += 1
        for k in running:
            members[k].turn()
            members[k].settle()
        curves = {
            k: members[k].curve
            for k in running
            if members[k].recorder.epochs == epoch and members[k].status != "diverged"
        }
        if on_epoch is None or not curves:
            continue
        for k in sorted(set(on_epoch(epoch, curves)) & curves.keys()):
            if members[k].status == "running":
                members[k].stop(epoch)
                members[k].turn()  # its pending report raises StopTrial; the function ends
                members[k].settle()
