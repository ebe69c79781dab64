"""The compact record a comparison keeps of each run (the trial user attribute ``run``).

A comparison's statistics need, per run: how it ended, the summary figures (the engine's
``Summary``, test figures included), the per-epoch curves, the applied per-layer scales and
the at-init measures. Storing that record on the
trial lets ``collect`` rebuild ``compare.json`` from the storage alone, without MLflow.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from initsearch.jsonsafe import finite_or_none
from initsearch.run.job import TrialOutcome

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
    from "not measured" for the correlations.
    """

    status: str
    reason: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    curve: dict[str, list] = field(default_factory=dict)
    scales: list[float] | None = None
    log_emergence: float | None = None
    emergence_zero: bool = False
    dead_fraction: float | None = None

    @classmethod
    def from_outcome(cls, outcome: TrialOutcome) -> RunRecord:
        result = outcome.first
        if result is None:
            return cls(status="failed", reason=outcome.reason)
        dead = result.init.layer_figure("dead_fraction")
        failed = outcome.state == "failed"
        log_e = result.init.log_emergence
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
        )

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
        )
