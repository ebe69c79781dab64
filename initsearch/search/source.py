"""The search as a trial source: the study's baselines first, then Optuna's sampler.

Baselines are enqueued once (a trial carries its baseline's name, so a restarted study sees
which are present) and always run their full budget; searched trials are asked from the
sampler, may be pruned, and stop when the shared budget is taken. A retry waiting in the study
(of a trial interrupted, or whose driver or worker died) runs even when the budget is taken:
the trial it repeats does not count, so a baseline still ends exactly once, and concurrent
drivers, which may overshoot the budget, would otherwise leave it waiting for good.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch.config import StudyConfig
from initsearch.contract import BASELINE, INIT, RETRY_OF
from initsearch.run.job import TrialJob
from initsearch.run.ledger import Ledger
from initsearch.run.optuna_adapter import claim, trial_handle, trial_id
from initsearch.run.source import Asked, TrialSource
from initsearch.search.baselines import Baseline, study_baselines
from initsearch.search.space import LayerInfo, suggest


class SearchSource(TrialSource):
    """Baselines, then sampled per-layer scales, until the study's trial budget is taken."""

    kept_attrs = (BASELINE,)

    def __init__(
        self, cfg: StudyConfig, study: optuna.Study, ledger: Ledger, info: LayerInfo
    ) -> None:
        self.cfg = cfg
        self.study = study
        self.ledger = ledger
        self.info = info
        self.baselines = {b.name: b for b in study_baselines(cfg, info)}
        self._open: bool | None = None  # what the last has_next found of the budget

    def prepare(self) -> list[str]:
        """Enqueue each baseline that no trial of the study carries yet (the driver holds the
        study lock: two drivers starting together would otherwise both enqueue)."""
        present = {t.user_attrs.get(BASELINE) for t in self.study.get_trials(deepcopy=False)}
        added = []
        for name, baseline in self.baselines.items():
            if name not in present:
                self.study.enqueue_trial(
                    baseline.params or {}, user_attrs={BASELINE: name}, skip_if_exists=False
                )
                added.append(name)
        return added

    def open_budget(self) -> int | None:
        """Trials the budget still allows (None: no limit)."""
        total = self.cfg.budget.trials
        return None if total is None else max(total - self.ledger.taken(), 0)

    def waiting_retries(self) -> list[FrozenTrial]:
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return [t for t in waiting if RETRY_OF in t.user_attrs]

    def has_next(self) -> bool:
        self._open = self.open_budget() != 0  # the next ask's, saving a read of every trial
        return self._open or bool(self.waiting_retries())

    def remaining(self) -> int | None:
        left = self.open_budget()
        return len(self.waiting_retries()) if left == 0 else left

    def done(self) -> int:
        return self.ledger.used()

    def seeds(self, trial: optuna.Trial) -> list[int]:
        return list(self.cfg.budget.seeds)

    def next(self) -> Asked | None:
        """Ask the sampler (which hands out waiting trials first) while the budget allows,
        else claim a waiting retry; None when another driver claimed the last one."""
        budget_open, self._open = self._open, None
        if budget_open is None:
            budget_open = self.open_budget() != 0
        if budget_open:
            return self.start(self.study.ask())
        for waiting in self.waiting_retries():
            if claim(self.study, trial_id(waiting)):
                return self.start(trial_handle(self.study, trial_id(waiting)))
        return None

    def start(self, trial: optuna.Trial) -> Asked:
        """The job of a trial just started (RUNNING): a baseline's init, or sampled scales."""
        baseline: Baseline | None = self.baselines.get(trial.user_attrs.get(BASELINE, ""))
        if baseline is None:
            init = suggest(trial, self.cfg, self.info)
        else:
            if baseline.params:
                suggest(trial, self.cfg, self.info)  # records the enqueued point
            init = baseline.init
        self.ledger.own(trial)
        trial.set_user_attr(INIT, init.to_dict())
        cfg = self.cfg
        metrics = tuple(cfg.objective.metrics)
        job = TrialJob(
            study_name=cfg.name,
            storage_url=self.ledger.storage_url,
            trial_id=trial_id(trial),
            trial_number=trial.number,
            spec=cfg.trial_spec(init, seed=cfg.budget.seeds[0]),
            seeds=cfg.budget.seeds,
            metrics=metrics,
            # baselines are reference points: they always run their full budget
            prune=len(metrics) == 1 and cfg.pruner.name != "none" and baseline is None,
            pruner=self.study.pruner,  # the study's own, pickled to the worker
        )
        return Asked(trial, job, init)
