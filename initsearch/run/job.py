"""What the driver sends a worker for one trial, and what comes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from initsearch.train import TrialSpec


@dataclass(frozen=True)
class TrialJob:
    """One trial to run: the engine spec, its seeds, and how to report to the study."""

    study_name: str
    storage_url: str
    trial_id: int
    trial_number: int
    spec: TrialSpec
    seeds: tuple[int, ...]
    metrics: tuple[str, ...]
    prune: bool
    pruner: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PackJob:
    """Trials one task trains together as one vectorised model (initsearch.train.pack)."""

    jobs: tuple[TrialJob, ...]


@dataclass
class TrialOutcome:
    """How a trial ended: "complete" with values, "pruned" (incl. diverged) or "failed"."""

    trial_number: int
    state: str
    values: list[float] | None
    results: list[dict[str, Any]]
    reason: str | None = None
    error: str | None = None
    pid: int = 0
    node_id: str = ""
    started: float = 0.0
    finished: float = 0.0
