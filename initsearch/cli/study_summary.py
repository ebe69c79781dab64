"""What a study is at a glance, as data: the one source of ``study status`` (table, ``--json``,
``--watch``) and ``study list``, so the views cannot disagree.

Trials are named by :mod:`initsearch.labels` and ranked by :mod:`initsearch.report.ranks` (ties
share a rank, as in ``study report``). The dict of :meth:`StudySummary.to_dict` is the
``--json`` contract: its keys are kept stable (new keys may be added, none renamed).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch import contract
from initsearch.config import StudyConfig
from initsearch.labels import (
    ROLE_BASELINE,
    ROLE_SEARCHED,
    STAGE_SEARCH,
    study_stage,
    trial_label,
    trial_role,
)
from initsearch.report.ranks import trial_ranks
from initsearch.run.ledger import counts_toward_budget

SCHEMA = 1  # the version of the --json layout (raised only if a key changes meaning)


@dataclass(frozen=True)
class TrialLine:
    """One trial as every view names it."""

    number: int
    label: str
    role: str
    state: str  # Optuna's state name, lower case: complete | pruned | fail | running | waiting
    value: float | None  # the first objective (None unless complete)
    rank: int | None  # competition rank among complete trials (ties share it)
    reason: str | None = None
    no_progress: int | None = None  # its seeds that completed without learning (None: unknown)


@dataclass(frozen=True)
class StudySummary:
    """A study's counts, its best trial (and its per-layer scales), its best searched trial,
    its baselines, its verdict and its last activity."""

    study: str
    stage: str
    metric: str
    direction: str
    trials: int
    states: dict[str, int]
    budget: int | None  # trials the search counts toward (budget.trials); None: unknown
    counted: int  # finished trials that count toward the budget
    complete: int
    best: TrialLine | None
    best_scales: dict[str, float]  # the best trial's applied scales, by layer name
    best_searched: TrialLine | None
    best_searched_scales: dict[str, float]
    baselines: list[TrialLine]
    verdict: str | None  # the kept verdict's outcome: searched-wins | no-difference | ...
    verdict_sentence: str | None  # ... and what it says
    last_activity: str | None  # ISO time of the latest trial start or finish
    layer_names: list[str] = field(default_factory=list)
    no_progress: int = 0  # complete trials with a seed that did not learn (ranked by value)

    @property
    def running(self) -> int:
        return self.states.get("running", 0)

    @property
    def finished(self) -> bool:
        """No trial running or waiting and the budget spent (unknown budget: none running)."""
        idle = self.running == 0 and self.states.get("waiting", 0) == 0
        return idle and (self.budget is None or self.counted >= self.budget)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **asdict(self), "running": self.running}


def _line(t: FrozenTrial, stage: str, ranks: dict[int, int]) -> TrialLine:
    complete = t.state == TrialState.COMPLETE and bool(t.values)
    return TrialLine(
        number=t.number,
        label=trial_label(t.user_attrs, t.number, stage),
        role=trial_role(t.user_attrs, stage),
        state=t.state.name.lower(),
        value=t.values[0] if complete else None,
        rank=ranks.get(t.number),
        reason=t.user_attrs.get(contract.REASON),
        no_progress=t.user_attrs.get(contract.NO_PROGRESS_SEEDS) if complete else None,
    )


def _last_activity(trials: list[FrozenTrial]) -> str | None:
    times: list[datetime] = [
        moment
        for t in trials
        for moment in (t.datetime_start, t.datetime_complete)
        if moment is not None
    ]
    return max(times).isoformat(timespec="seconds") if times else None


def _verdict(study: optuna.Study) -> tuple[str | None, str | None]:
    """(outcome, sentence) of the study's kept verdict; (None, None) when it has none."""
    from initsearch.confirm import current_verdict
    from initsearch.confirm.verdict import Verdict

    record = current_verdict(study)
    if record is None:
        return None, None
    try:
        verdict = Verdict.from_dict(record["verdict"])
    except (KeyError, TypeError, ValueError):  # a record of another version: say it exists
        return "kept", None
    return verdict.outcome, verdict.sentence


def by_layer(values: list[float] | None, names: list[str]) -> dict[str, float]:
    """Per-layer values by layer name (by index where the study recorded no names)."""
    return {(names[i] if i < len(names) else str(i)): float(v) for i, v in enumerate(values or [])}


def applied_by_layer(trial: FrozenTrial | None, names: list[str]) -> dict[str, float]:
    """A trial's applied per-layer scales (``contract.APPLIED_SCALES``) by layer name."""
    scales = trial.user_attrs.get(contract.APPLIED_SCALES) if trial is not None else None
    return by_layer(scales, names)


def summarize(study: optuna.Study, cfg: StudyConfig | None) -> StudySummary:
    """The summary of ``study``; ``cfg`` (its config, None when unreadable) gives the metric's
    name and the budget."""
    stage = study_stage(study.user_attrs)
    trials = study.get_trials(deepcopy=False)
    maximise = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    ranks = trial_ranks(trials, maximise)
    lines = [_line(t, stage, ranks) for t in trials]
    states: dict[str, int] = {}
    for line in lines:
        states[line.state] = states.get(line.state, 0) + 1
    done = [line for line in lines if line.rank is not None]
    order = sorted(done, key=lambda line: (line.rank, line.number))
    searched = [line for line in order if line.role == ROLE_SEARCHED]
    names = list(study.user_attrs.get(contract.STUDY_LAYER_NAMES) or [])
    best = order[0] if order else None
    by_number = {t.number: t for t in trials}
    outcome, sentence = _verdict(study) if stage == STAGE_SEARCH else (None, None)
    baselines = [
        line
        for line, t in zip(lines, trials, strict=True)
        if line.role == ROLE_BASELINE and not t.user_attrs.get(contract.REQUEUED)
    ]
    return StudySummary(
        study=study.study_name,
        stage=stage,
        metric=cfg.objective.metrics[0] if cfg else "value",
        direction="maximize" if maximise else "minimize",
        trials=len(trials),
        states=dict(sorted(states.items())),
        budget=cfg.budget.trials if cfg and stage == STAGE_SEARCH else None,
        counted=sum(counts_toward_budget(t) for t in trials),
        complete=len(done),
        best=best,
        best_scales=applied_by_layer(by_number[best.number] if best else None, names),
        best_searched=searched[0] if searched else None,
        best_searched_scales=applied_by_layer(
            by_number[searched[0].number] if searched else None, names
        ),
        baselines=baselines,
        verdict=outcome,
        verdict_sentence=sentence,
        last_activity=_last_activity(trials),
        layer_names=names,
        no_progress=sum(bool(line.no_progress) for line in lines),
    )
