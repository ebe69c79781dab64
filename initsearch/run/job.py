"""What the driver sends a worker for one trial, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import optuna

from initsearch.train import TrialResult, TrialSpec

OutcomeState = Literal["complete", "pruned", "failed"]


@dataclass(frozen=True)
class TrialJob:
    """One trial to run: the engine spec, its seeds, and how to report to the study.

    ``pruner`` is the study's own pruner object (pickled to the worker), used only when
    ``prune`` is true; every single-objective trial still reports its curve.
    """

    study_name: str
    storage_url: str
    trial_id: int
    trial_number: int
    spec: TrialSpec
    seeds: tuple[int, ...]
    metrics: tuple[str, ...]
    prune: bool
    pruner: optuna.pruners.BasePruner | None = None


@dataclass(frozen=True)
class PackJob:
    """Trials one task trains together as one vectorised model (initsearch.train.pack)."""

    jobs: tuple[TrialJob, ...]


@dataclass
class TrialOutcome:
    """How a trial ended: "complete" with values, "pruned" (incl. diverged) or "failed".

    ``results`` holds one engine result per seed trained, in seed order (the objects
    themselves: Ray pickles them across the process boundary, nothing reads them by key).
    """

    trial_number: int
    state: OutcomeState
    values: list[float] | None
    results: list[TrialResult]
    reason: str | None = None
    error: str | None = None
    pid: int = 0
    node_id: str = ""
    started: float = 0.0
    finished: float = 0.0

    @property
    def pack_size(self) -> int:
        """How the trial was trained: alone (1) or in a pack of K."""
        return self.results[0].pack_size if self.results else 1

    @property
    def first(self) -> TrialResult | None:
        """The first seed's result (its init report stands for the trial's: every seed applies
        the same scheme; the pruner sees the mean over seeds)."""
        return self.results[0] if self.results else None
