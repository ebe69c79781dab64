"""The search as a trial source: the study's baselines first, then Optuna's sampler.

Baselines are enqueued once (a trial carries its baseline's name, so a restarted study sees
which are present) and always run their full budget; searched trials are asked from the
sampler, may be pruned, and stop when the shared budget is taken.
"""

from __future__ import annotations

import optuna

from initsearch.config import StudyConfig
from initsearch.contract import BASELINE, INIT
from initsearch.run.job import TrialJob
from initsearch.run.ledger import Ledger
from initsearch.run.optuna_adapter import trial_id
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

    def has_next(self) -> bool:
        total = self.cfg.budget.trials
        return total is None or self.ledger.taken() < total

    def remaining(self) -> int | None:
        total = self.cfg.budget.trials
        return None if total is None else max(total - self.ledger.taken(), 0)

    def done(self) -> int:
        return self.ledger.used()

    def seeds(self, trial: optuna.Trial) -> list[int]:
        return list(self.cfg.budget.seeds)

    def next(self) -> Asked:
        trial = self.study.ask()
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
