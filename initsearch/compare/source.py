"""A comparison as a trial source: a fixed list of (scheme, seed) pairs, nothing sampled.

``prepare`` enqueues every pair of the plan with no finished, waiting or running trial;
``next`` claims one waiting trial of the plan (WAITING -> RUNNING is atomic in the storage,
so two drivers never claim the same one). Trials of other plans in the same study (another
epoch budget, other seeds) are left waiting for their own comparison. Every trial also
measures the test split (``test_split=True``): a comparison judges on it
(:mod:`initsearch.compare.metrics`), while its Optuna value stays the validation objective.
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from initsearch.compare.plan import DONE, ComparePlan, finished_keys, trial_key
from initsearch.compare.record import RunRecord
from initsearch.contract import (
    BASELINE,
    INIT,
    PAIR_ATTRS,
    RUN,
    SCHEME,
    SEED,
    SETUP,
    SOURCE_TRIAL,
)
from initsearch.run.job import TrialJob, TrialOutcome
from initsearch.run.ledger import Ledger
from initsearch.run.optuna_adapter import claim, stored_trial, trial_handle, trial_id
from initsearch.run.source import Asked, TrialSource


class CompareSource(TrialSource):
    """The plan's pairs, each trained once on one seed, never pruned."""

    kept_attrs = (*PAIR_ATTRS, SOURCE_TRIAL)

    def __init__(self, plan: ComparePlan, study: optuna.Study, ledger: Ledger) -> None:
        self.plan = plan
        self.study = study
        self.ledger = ledger
        self.wanted = plan.pair_keys()

    def _waiting(self) -> list[optuna.trial.FrozenTrial]:
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        return [t for t in waiting if trial_key(t) in self.wanted]

    def prepare(self) -> list[str]:
        live = (*DONE, TrialState.WAITING, TrialState.RUNNING)
        present = {
            k for t in self.study.get_trials(deepcopy=False, states=live) if (k := trial_key(t))
        }
        added = []
        for key, (scheme, seed) in self.wanted.items():
            if key in present:
                continue
            name = f"{scheme.name}/seed={seed}"
            attrs = {
                BASELINE: name,
                SCHEME: scheme.name,
                SEED: seed,
                INIT: scheme.init.to_dict(),
                SETUP: self.plan.setup,
            }
            if scheme.source_trial is not None:  # a searched arm: which search trial it re-runs
                attrs[SOURCE_TRIAL] = scheme.source_trial
            self.study.enqueue_trial({}, user_attrs=attrs, skip_if_exists=False)
            added.append(name)
        return added

    def has_next(self) -> bool:
        return bool(self._waiting())

    def remaining(self) -> int:
        return len(self._waiting())

    def done(self) -> int:
        """Pairs of this plan with a finished run (the progress a user waits for)."""
        return len(finished_keys(self.study) & set(self.wanted))

    def seeds(self, trial: optuna.Trial) -> list[int]:
        return [int(trial.user_attrs[SEED])]

    def next(self) -> Asked | None:
        for waiting in self._waiting():
            if claim(self.study, trial_id(waiting)):
                return self._asked(trial_handle(self.study, trial_id(waiting)))
        return None

    def _asked(self, trial: optuna.Trial) -> Asked:
        scheme, seed = self.wanted[trial_key(stored_trial(self.study, trial_id(trial)))]
        self.ledger.own(trial)
        cfg = self.plan.cfg
        job = TrialJob(
            study_name=cfg.name,
            storage_url=self.ledger.storage_url,
            trial_id=trial_id(trial),
            trial_number=trial.number,
            spec=cfg.trial_spec(scheme.init, seed=seed, test_split=True),
            seeds=(seed,),
            metrics=tuple(cfg.objective.metrics),
            prune=False,
        )
        return Asked(trial, job, scheme.init)

    def annotate(self, trial: optuna.Trial, outcome: TrialOutcome) -> None:
        trial.set_user_attr(RUN, RunRecord.from_outcome(outcome).to_dict())
