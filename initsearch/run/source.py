"""Where a driver's trials come from: the narrow interface every kind of work implements.

The driver owns the loop (ask a source for work, hand it to the pool, record what comes back);
a source decides *which* trials to run. Today there are two: the search (baselines first, then
Optuna's sampler; :mod:`initsearch.search.source`) and a comparison's fixed (scheme, seed)
list (:mod:`initsearch.compare.source`). A new kind of work (a confirmation stage, say) is a
new source; the driver does not change.

Contract, in the order the driver calls it:
- ``prepare()`` once at start, under the study lock: put the source's fixed work (baselines,
  pairs) in the study as WAITING trials, exactly once however often the study is started.
- ``has_next()`` before each ask: whether to start another trial now (a search reads the
  shared budget from the ledger it was given).
- ``next()`` starts a trial and returns it with its job, or None when the work ran out in
  between (another driver took the last waiting trial); ``remaining()`` says how many more
  there are (None: unbounded), which the driver uses to size packs.
- ``annotate(trial, outcome)`` just before the outcome is recorded (e.g. the comparison's
  compact run record); ``seeds(trial)`` the seeds the trial trained, for the record.
- ``kept_attrs`` names the user attributes a retry of a failed trial carries over.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import optuna

from initsearch.inits import InitSpec
from initsearch.run.job import TrialJob, TrialOutcome


@dataclass(frozen=True)
class Asked:
    """A trial the source started (RUNNING in the storage) and the job that trains it."""

    trial: optuna.Trial
    job: TrialJob
    init: InitSpec


class TrialSource(ABC):
    """Which trials a driver runs; see the module docstring for the order of calls."""

    kept_attrs: tuple[str, ...] = ()

    @abstractmethod
    def prepare(self) -> list[str]:
        """Enqueue the fixed work not yet in the study; returns what was added."""

    @abstractmethod
    def has_next(self) -> bool:
        """Whether to start another trial now."""

    @abstractmethod
    def next(self) -> Asked | None:
        """Start the next trial (after ``has_next`` said yes); None if none is left."""

    @abstractmethod
    def remaining(self) -> int | None:
        """Trials still to start (None: no limit)."""

    @abstractmethod
    def done(self) -> int:
        """Finished trials that count toward this source's work (the progress shown)."""

    @abstractmethod
    def seeds(self, trial: optuna.Trial) -> list[int]:
        """The seeds the trial trains."""

    def annotate(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:  # noqa: B027
        """Add source-specific user attributes before the trial is told (frozen after);
        an optional hook, a no-op by default."""
