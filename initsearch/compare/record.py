"""The compact record a comparison keeps of each run (the trial user attribute ``run``).

A comparison's statistics need, per run: how it ended, the summary figures (the engine's
``Summary``, test figures included), the per-epoch curves, the applied per-layer scales and
the at-init measures. Storing that record on the
trial lets ``collect`` rebuild ``compare.json`` from the storage alone, without MLflow.

Whether a run made no progress (:mod:`initsearch.train.curve`) is its summary's
``no_progress``; a record of an older version lacks it, and :meth:`RunRecord.no_progress`
recomputes it from the stored curves (final validation accuracy and epoch training loss).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from initsearch.jsonsafe import finite_or_none
from initsearch.run.job import TrialOutcome
from initsearch.train.curve import Curve, no_progress

CURVE_KEYS = (
    "test_accuracy",
    "test_loss",
    "val_accuracy",
    "val_loss",
    "epoch_train_loss",
    "epoch_seconds",
)
"""Per-epoch curves kept: the test split (what a comparison judges), the validation split,
training loss and time. A record stored before runs measured the test split reads back with
empty test curves."""


@dataclass(frozen=True)
class RunRecord:
    """One run of one (scheme, seed): status, summary, curves, scales, at-init measures.

    ``scales`` are the factors the init applied per layer (the scheme's own times the spec's).
    ``emergence_zero`` keeps E = 0 (log -inf, stored as null like any non-finite float) apart
    from "not measured" for the correlations; ``relative_emergence_zero`` does the same for
    ``log_emergence_relative`` (E with the scale-free, relative activity threshold).
    """

    status: str
    reason: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    curve: dict[str, list] = field(default_factory=dict)
    scales: list[float] | None = None
    log_emergence: float | None = None
    emergence_zero: bool = False
    dead_fraction: float | None = None
    log_emergence_relative: float | None = None
    relative_emergence_zero: bool = False

    @classmethod
    def from_outcome(cls, outcome: TrialOutcome) -> RunRecord:
        result = outcome.first
        if result is None:
            return cls(status="failed", reason=outcome.reason)
        dead = result.init.layer_figure("dead_fraction")
        failed = outcome.state == "failed"
        log_e = result.init.log_emergence
        log_rel = (result.init.diagnostics or {}).get("log_emergence_relative")
        curve = result.curve.to_dict()
        return cls(
            status="failed" if failed else result.status,
            reason=outcome.reason if failed else result.reason,
            summary=result.summary.to_dict(),
            curve={k: list(curve.get(k, [])) for k in CURVE_KEYS},
            scales=list(result.init.applied_scales),
            log_emergence=log_e,
            emergence_zero=log_e is not None and log_e == -math.inf,
            dead_fraction=statistics.fmean(dead) if dead else None,
            log_emergence_relative=log_rel,
            relative_emergence_zero=log_rel is not None and log_rel == -math.inf,
        )

    def no_progress(self, num_classes: int | None) -> bool | None:
        """The summary's no-progress flag; for a record stored before the flag existed, judged
        again from the curves against the stored chance accuracy, else 1 / ``num_classes``
        (the data set's class count; None when that is unknown too)."""
        flag = self.summary.get("no_progress")
        if flag is not None:
            return bool(flag)
        chance = self.summary.get("chance_accuracy")
        if chance is None and num_classes:
            chance = 1.0 / num_classes
        curve = Curve(
            val_accuracy=list(self.curve.get("val_accuracy") or []),
            epoch_train_loss=list(self.curve.get("epoch_train_loss") or []),
        )
        return no_progress(curve, chance, num_classes, self.status == "completed")

    def to_dict(self) -> dict[str, Any]:
        """JSON for the storage (non-finite floats become null)."""
        return finite_or_none(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RunRecord:
        """Back from the storage; a missing record reads as a failed run."""
        if not data:
            return cls(status="failed")
        return cls(
            status=data.get("status", "failed"),
            reason=data.get("reason"),
            summary=dict(data.get("summary") or {}),
            curve={k: list((data.get("curve") or {}).get(k) or []) for k in CURVE_KEYS},
            scales=data.get("scales"),
            log_emergence=data.get("log_emergence"),
            emergence_zero=bool(data.get("emergence_zero", False)),
            dead_fraction=data.get("dead_fraction"),
            log_emergence_relative=data.get("log_emergence_relative"),
            relative_emergence_zero=bool(data.get("relative_emergence_zero", False)),
        )
