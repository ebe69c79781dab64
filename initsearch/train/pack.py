"""Packs: K trials of one architecture trained in lockstep as one vectorised model.

The members of a pack share model, data, optimizer settings, budget and device; they differ in
their init and may differ in their seed. Each member is built and initialised exactly as
:func:`~initsearch.train.engine.run_trial` would build it alone (seeded by its own seed), then
the members are stacked (:class:`~initsearch.train.stack.StackedModel`) and one step trains
them all. Members of one seed share each batch (the paired design a comparison wants); when
seeds differ, each member draws its own batch order from a generator seeded by its own seed,
exactly as its solo run does. Each keeps its own optimizer state, learning-rate schedule,
curve, divergence flag and result, so ``run_pack(specs)[k]`` equals ``run_trial(specs[k])`` up
to floating-point summation order (tests/test_pack.py states the tolerance).

The step's losses stay on the device and are read once per epoch; a member whose loss went bad
is found there, its curve cut at the step where it happened (as a solo run would have stopped),
and it is dropped from the stack with the members that finished or that ``on_epoch`` (a
pruner) stopped. A diverged member only ever touches its own slices.

The step itself is :class:`~initsearch.train.pack_trainer.PackTrainer`'s; on CUDA it is captured
in a CUDA graph (:mod:`initsearch.train.graphed`) unless ``graphs=False``; if capture fails the
pack trains eagerly and says why in each result.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace

import torch

from initsearch.data import Dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitReport, InitSpec
from initsearch.train.curve import Curve, LossLog, bad_loss, summarize
from initsearch.train.engine import (
    TrialResult,
    build_member,
    data_chance,
    load_trial_data,
    resolve_device,
)
from initsearch.train.graphed import GraphedPackTrainer
from initsearch.train.optim import lr_factor, warmup_steps
from initsearch.train.pack_trainer import PackTrainer
from initsearch.train.spec import TrialSpec
from initsearch.train.stack import StackedModel

PackEpochCallback = Callable[[int, dict[int, Curve]], Collection[int]]
"""Called once after each epoch with (epochs done, {member index: curve} of every member that
finished that epoch and is still running); returns the indices of the members to stop."""


def pack_key(spec: TrialSpec) -> str:
    """Everything but the init and the seed: trials with equal keys can train as one pack."""
    plain = replace(spec, init=InitSpec(), seed=0)
    return json.dumps(plain.to_dict(), sort_keys=True, default=str)


def check_packable(specs: list[TrialSpec]) -> None:
    if not specs:
        raise ConfigError("a pack needs at least one trial")
    first = pack_key(specs[0])
    for k, spec in enumerate(specs[1:], start=1):
        if pack_key(spec) != first:
            raise ConfigError(
                f"pack member {k} differs from member 0 in more than its init and seed "
                "(model, data, optimizer, budget and device must be equal); group trials with "
                "initsearch.train.pack.pack_key before packing"
            )


@dataclass
class Member:
    """One trial's bookkeeping inside a pack, replaying the solo engine's curve logic."""

    spec: TrialSpec
    init: InitReport
    curve: Curve = field(default_factory=Curve)
    status: str = "running"
    reason: str | None = None
    diverged_step: int | None = None

    def record_epoch(self, losses: list[float], first_step: int, seconds: float) -> None:
        """Log one epoch's per-step training losses exactly as run_trial logs them, cut at the
        first bad loss (the step a solo run stops at)."""
        log = LossLog(self.curve, self.spec.budget.log_every)
        step = first_step
        for value in losses:
            self.reason = bad_loss(value, step, self.spec.budget.divergence_loss)
            if self.reason is not None:
                self.status, self.diverged_step = "diverged", step
                log.end_block(step)
                return
            step += 1
            log.add(step, value)
        self.curve.epoch_seconds.append(seconds)
        log.end_epoch(step)

    def record_eval(self, val_loss: float, val_acc: float, epoch: int, step: int) -> None:
        if not math.isfinite(val_loss):
            self.status, self.diverged_step = "diverged", step
            self.reason = f"validation loss {val_loss} after epoch {epoch}"
            return
        self.curve.val_loss.append(val_loss)
        self.curve.val_accuracy.append(val_acc)

    def record_test(self, test_loss: float, test_acc: float) -> None:
        self.curve.test_loss.append(test_loss)
        self.curve.test_accuracy.append(test_acc)


class BatchOrder:
    """Each epoch's order of the training indices: ``[N]`` shared when every member has one
    seed, else ``[K, N]`` with each running member's row from its own seeded generator (the
    draws its solo run makes)."""

    def __init__(self, specs: list[TrialSpec], n_train: int, device: torch.device) -> None:
        seeds = [spec.seed for spec in specs]
        self.shared = len(set(seeds)) == 1
        self.rngs = [
            torch.Generator().manual_seed(seed) for seed in seeds[: 1 if self.shared else None]
        ]
        self.n_train, self.device = n_train, device

    def epoch(self, running: list[int]) -> torch.Tensor:
        if self.shared:
            return torch.randperm(self.n_train, generator=self.rngs[0]).to(self.device)
        rows = [torch.randperm(self.n_train, generator=self.rngs[k]) for k in running]
        return torch.stack(rows).to(self.device)


def make_trainer(
    stack: StackedModel, spec: TrialSpec, dataset: Dataset, device, graphs: bool | None
) -> PackTrainer:
    """A CUDA-graphed trainer on CUDA (unless ``graphs`` is False), an eager one otherwise."""
    if graphs is None:
        graphs = device.type == "cuda"
    if graphs and device.type == "cuda":
        return GraphedPackTrainer(stack, spec, dataset, device)
    return PackTrainer(stack, spec, dataset, device)


def run_pack(
    specs: list[TrialSpec],
    dataset: Dataset | None = None,
    on_epoch: PackEpochCallback | None = None,
    graphs: bool | None = None,
) -> list[TrialResult]:
    """Train every spec (equal but for init and seed) as one pack; one result per spec, in order.

    ``graphs``: capture the step in a CUDA graph (default: on CUDA devices only).
    """
    check_packable(specs)
    spec0 = specs[0]
    device = resolve_device(spec0.device)
    dataset = load_trial_data(spec0, dataset, device)
    members: list[Member] = []
    models = []
    for spec in specs:
        model, report = build_member(spec, dataset, device)
        models.append(model)
        members.append(Member(spec, report))
    num_parameters = sum(p.numel() for p in models[0].parameters())
    stack = StackedModel(models)
    del models
    trainer = make_trainer(stack, spec0, dataset, device, graphs)

    budget = spec0.budget
    n_train = len(dataset.y_train)
    steps_per_epoch = math.ceil(n_train / budget.batch_size)
    total_steps = steps_per_epoch * budget.epochs
    warmup = warmup_steps(spec0.optimizer, steps_per_epoch)
    orders = BatchOrder(specs, n_train, device)
    running = list(range(len(specs)))  # member index of each stack position
    step = 0
    stack.train()
    for epoch in range(1, budget.epochs + 1):
        started = time.perf_counter()
        order = orders.epoch(running)
        losses = []
        for start in range(0, n_train, budget.batch_size):
            trainer.set_lr(
                spec0.optimizer.lr
                * lr_factor(step + len(losses), total_steps, warmup, spec0.optimizer.schedule)
            )
            losses.append(trainer.step(order[..., start : start + budget.batch_size]))
        per_member = torch.stack(losses).T.tolist()  # the epoch's one host sync
        seconds = time.perf_counter() - started
        for pos, k in enumerate(running):
            members[k].record_epoch(per_member[pos], step, seconds)
        step += len(losses)
        measure(trainer, dataset, [members[k] for k in running], epoch, step)
        curves = {k: members[k].curve for k in running if members[k].status == "running"}
        stop = on_epoch(epoch, curves) if on_epoch is not None and curves else ()
        for k in set(stop) & curves.keys():
            if epoch < budget.epochs:
                members[k].status = "stopped"
                members[k].reason = f"stopped by callback after epoch {epoch}"
        keep = [pos for pos, k in enumerate(running) if members[k].status == "running"]
        if not keep:
            break
        if len(keep) < len(running):
            trainer.keep(torch.tensor(keep, device=device))
            running = [running[pos] for pos in keep]

    chance = data_chance(dataset)
    results = []
    for m in members:
        status = "completed" if m.status == "running" else m.status
        summary = summarize(
            m.curve,
            total_steps,
            budget.target_accuracy,
            chance,
            dataset.num_classes,
            completed=status == "completed",
        )
        results.append(
            TrialResult(
                status=status,
                curve=m.curve,
                summary=summary,
                init=m.init,
                reason=m.reason,
                diverged_step=m.diverged_step,
                num_parameters=num_parameters,
                device=str(device),
                spec=m.spec.to_dict(),
                pack_size=len(specs),
                engine_note=trainer.note,
            )
        )
    return results


def measure(
    trainer: PackTrainer, dataset: Dataset, stacked: list[Member], epoch: int, step: int
) -> None:
    """The epoch's validation figures of the stacked members still running (a non-finite
    validation loss ends a member as diverged), then their test figures if asked for."""
    val_loss, val_acc = trainer.evaluate(dataset.x_val, dataset.y_val)
    for pos, member in enumerate(stacked):
        if member.status == "running":
            member.record_eval(val_loss[pos], val_acc[pos], epoch, step)
    if not trainer.spec.test_split:
        return
    test_loss, test_acc = trainer.evaluate(dataset.x_test, dataset.y_test)
    for pos, member in enumerate(stacked):
        if member.status == "running":
            member.record_test(test_loss[pos], test_acc[pos])
