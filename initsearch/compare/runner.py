"""Run a comparison: every scheme x every seed, through the study machinery.

A comparison of study ``S`` is the Optuna study ``S-compare`` in S's storage, tracked in the
MLflow experiment ``initsearch/S-compare`` (one parent run, a child run per trial) in S's
tracking store. It is executed by :class:`CompareDriver`, a :class:`StudyDriver` whose work list
is fixed: one trial per (scheme, seed), enqueued once, nothing sampled, nothing pruned. Ray
workers (or the inline pool) run the trials, stale trials of a dead driver are retried once,
and a second ``compare`` resumes: finished pairs are not re-run (pairs that failed with an error
are, once per invocation).

Why a trial per (scheme, seed) rather than per scheme with all seeds: a run that diverges does
not stop the scheme's other seeds (the study worker stops a trial at its first bad seed), work
spreads evenly over the workers, a resumed or enlarged comparison (more seeds, more schemes)
reuses every finished run, and each run is its own MLflow child run with its own curves.

A trial is matched to its pair by user attrs ``scheme``, ``seed``, ``init`` (the exact spec)
and ``setup`` (a hash of data, model and training settings, the device excluded). Changing a
scheme's options, the searched best or ``--epochs`` therefore runs new trials beside the old
ones instead of mixing results of different set-ups.

The paired design. Seed s fixes, for every scheme, the data order (the engine's own generator
seeded with s) and the global RNG state before the model is built and initialised
(``torch.manual_seed(s)``). Schemes that draw their base weights as i.i.d. normals in layer order
therefore start from the *same base random weights*, up to a per-layer factor: Kaiming (normal,
fan_in), LeCun normal, the emergence rule and the searched scales over a Kaiming base, and
GradInit and the learned updater over their Kaiming base (they then learn per-layer factors;
their data batches use other draws and do not change the base). Xavier (uniform draws),
orthogonal (QR of a normal matrix) and LPS (its own construction) draw different weights from
the same seed: paired by data order and seed, not by weights. tests/test_compare.py checks the
proportionality.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from initsearch.compare.schemes import (
    Scheme,
    SearchedBest,
    build_schemes,
    searched_best,
)
from initsearch.config import (
    BudgetConfig,
    ObjectiveConfig,
    PrunerConfig,
    StudyConfig,
)
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec
from initsearch.jsonsafe import finite_or_none
from initsearch.run.driver import StudyDriver, StudyProgress
from initsearch.run.job import TrialJob, TrialOutcome
from initsearch.run.pool import TrialPool
from initsearch.search.space import LayerInfo, layer_info
from initsearch.search.storage import open_storage, resolve_storage_url, study_lock
from initsearch.tracking.mlflow_runs import default_tracking_uri

SUFFIX = "-compare"
PAIR_ATTRS = ("baseline", "scheme", "seed", "init", "setup")
CURVE_KEYS = ("val_accuracy", "val_loss", "epoch_train_loss", "epoch_seconds")
DONE = (TrialState.COMPLETE, TrialState.PRUNED)

Key = tuple[str, int, str, str]


def init_key(init: dict[str, Any] | InitSpec) -> str:
    """A canonical text of an init spec (the same after a round trip through the storage)."""
    data = init.to_dict() if isinstance(init, InitSpec) else init
    return json.dumps(data, sort_keys=True)


def setup_hash(cfg: StudyConfig) -> str:
    """What makes two runs of one (scheme, seed) the same experiment, device aside."""
    dumped = cfg.model_dump(mode="json")
    train = {k: v for k, v in dumped["train"].items() if k != "device"}
    text = json.dumps(
        {"data": dumped["data"], "model": dumped["model"], "train": train}, sort_keys=True
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def trial_key(trial: FrozenTrial) -> Key | None:
    a = trial.user_attrs
    if not all(k in a for k in ("scheme", "seed", "init", "setup")):
        return None
    return (a["scheme"], int(a["seed"]), init_key(a["init"]), a["setup"])


@dataclass(frozen=True)
class ComparePlan:
    """What a comparison runs: the study compared, its own config, the arms, the seeds."""

    study: StudyConfig
    cfg: StudyConfig
    schemes: list[Scheme]
    seeds: tuple[int, ...]
    info: LayerInfo
    searched: SearchedBest | None
    setup: str
    target: float | None

    @property
    def name(self) -> str:
        return self.cfg.name

    @property
    def storage_url(self) -> str:
        return resolve_storage_url(self.cfg.storage, self.cfg.workdir, self.cfg.name)

    def key(self, scheme: Scheme, seed: int) -> Key:
        return (scheme.name, seed, init_key(scheme.init), self.setup)

    def pairs(self) -> list[tuple[Scheme, int]]:
        """Seed-major: every scheme of seed s before seed s + 1, so an interrupted comparison
        leaves complete pairs to test."""
        return [(s, seed) for seed in self.seeds for s in self.schemes]

    def pair_keys(self) -> dict[Key, tuple[Scheme, int]]:
        return {self.key(s, seed): (s, seed) for s, seed in self.pairs()}


def comparison_config(
    study: StudyConfig, seeds: int, epochs: int | None = None, target: float | None = None
) -> StudyConfig:
    """The comparison's own study config: S-compare, in S's storage and tracking store,
    single objective (final accuracy), no pruner, one trial per (scheme, seed)."""
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {epochs}")
    if target is not None and not 0 < target <= 1:
        raise ConfigError(f"--target must be an accuracy in (0, 1], got {target}")
    train = study.train.model_copy(update={"epochs": epochs}) if epochs else study.train
    return study.model_copy(
        update={
            "name": f"{study.name}{SUFFIX}",
            "storage": resolve_storage_url(study.storage, study.workdir, study.name),
            "tracking_uri": study.tracking_uri or default_tracking_uri(study.workdir, study.name),
            "train": train,
            "objective": ObjectiveConfig(
                metric="val_accuracy",
                target_accuracy=target or study.objective.target_accuracy,
            ),
            "pruner": PrunerConfig(name="none"),
            "baselines": study.baselines.model_copy(update={"schemes": []}),
            "budget": BudgetConfig(
                trials=1, seeds_per_trial=seeds, first_seed=study.budget.first_seed
            ),
        }
    )


def plan_comparison(
    study: StudyConfig,
    seeds: int,
    schemes: list[str] | None = None,
    alphas: list[float] | None = None,
    epochs: int | None = None,
    target: float | None = None,
) -> ComparePlan:
    cfg = comparison_config(study, seeds, epochs, target)
    best = searched_best(study)
    arms = build_schemes(study, schemes, alphas, best)
    cfg = cfg.model_copy(
        update={"budget": cfg.budget.model_copy(update={"trials": len(arms) * seeds})}
    )
    return ComparePlan(
        study=study,
        cfg=cfg,
        schemes=arms,
        seeds=cfg.budget.seeds,
        info=layer_info(study),
        searched=best,
        setup=setup_hash(cfg),
        target=target,
    )


def load_comparison_study(plan: ComparePlan) -> optuna.Study | None:
    """The comparison's Optuna study if it exists."""
    url = plan.storage_url
    if url.startswith("journal://"):
        from pathlib import Path

        if not Path(url.removeprefix("journal://")).exists():
            return None
    try:
        return optuna.load_study(study_name=plan.name, storage=open_storage(url))
    except KeyError:
        return None


def finished_keys(study: optuna.Study | None) -> set[Key]:
    if study is None:
        return set()
    return {
        k for t in study.get_trials(deepcopy=False, states=DONE) if (k := trial_key(t)) is not None
    }


def pending(plan: ComparePlan) -> int:
    """Pairs of the plan with no finished run yet (what a driver would still train)."""
    done = finished_keys(load_comparison_study(plan))
    return sum(k not in done for k in plan.pair_keys())


def run_record(outcome: TrialOutcome) -> dict[str, Any]:
    """The compact per-run record a trial keeps (user attr ``run``) for the comparison's
    statistics: status, summary, per-epoch curves, per-layer scales, at-init measures."""
    if not outcome.results:
        return {"status": "failed", "reason": outcome.reason, "summary": {}, "curve": {}}
    result = outcome.results[0]
    init = result.get("init") or {}
    diag = init.get("diagnostics") or {}
    dead = [
        float(layer["dead_fraction"])
        for layer in diag.get("layers", [])
        if layer.get("dead_fraction") is not None
    ]
    failed = outcome.state == "failed"
    log_e = diag.get("log_emergence")
    return finite_or_none(
        {
            "status": "failed" if failed else result["status"],
            "reason": outcome.reason if failed else result.get("reason"),
            "summary": result["summary"],
            "curve": {k: list(result["curve"].get(k, [])) for k in CURVE_KEYS},
            "scales": init.get("scales"),
            "log_emergence": log_e,
            # E = 0 (log -inf) is stored as null like any non-finite float; this keeps it apart
            # from "not measured" for the correlations
            "emergence_zero": log_e is not None and log_e == -math.inf,
            "dead_fraction": statistics.fmean(dead) if dead else None,
        }
    )


class CompareDriver(StudyDriver):
    """A study driver with a fixed work list: the plan's (scheme, seed) pairs."""

    def __init__(
        self,
        plan: ComparePlan,
        pool: TrialPool,
        on_progress: Callable[[StudyProgress], None] | None = None,
    ) -> None:
        super().__init__(plan.cfg, pool, on_progress)
        self.plan = plan
        self.wanted = plan.pair_keys()
        self._popped: int | None = None
        self.study.set_user_attr("compared_study", plan.study.name)

    # ---- the work list -----------------------------------------------------------------
    def enqueue_baselines(self) -> list[str]:
        """Enqueue every pair with no finished, waiting or running trial (under the lock)."""
        with study_lock(self.handle.storage_url, self.cfg.name):
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
                    "baseline": name,
                    "scheme": scheme.name,
                    "seed": seed,
                    "init": scheme.init.to_dict(),
                    "setup": self.plan.setup,
                }
                self.study.enqueue_trial({}, user_attrs=attrs, skip_if_exists=False)
                added.append(name)
        return added

    def requeue(self, trial: FrozenTrial) -> None:
        attrs = {k: trial.user_attrs[k] for k in PAIR_ATTRS if k in trial.user_attrs}
        attrs["retry_of"] = trial.number
        self.study.enqueue_trial({}, user_attrs=attrs, skip_if_exists=False)

    def has_next(self, total: int | None) -> bool:
        """Claim the next waiting trial of this plan (WAITING -> RUNNING is atomic in the
        storage, so two drivers never claim one); trials of other plans are left waiting."""
        if self._popped is not None:
            return True
        storage = self.study._storage
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            if trial_key(t) not in self.wanted:
                continue
            try:
                if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                    self._popped = t._trial_id
                    return True
            except optuna.exceptions.UpdateFinishedTrialError:
                continue
        return False

    def remaining(self, total: int | None) -> int | None:
        """Waiting trials of this plan (the one claimed by has_next included)."""
        waiting = self.study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
        claimed = 0 if self._popped is None else 1
        return claimed + sum(trial_key(t) in self.wanted for t in waiting)

    def budget_used(self) -> int:
        """Pairs of this plan with a finished run (the progress a user waits for)."""
        return len(finished_keys(self.study) & set(self.wanted))

    # ---- one trial -----------------------------------------------------------------------
    def next_job(self) -> tuple[TrialJob, optuna.Trial, dict[str, Any]]:
        trial_id, self._popped = self._popped, None
        if trial_id is None:
            raise RuntimeError("next_job() without a trial claimed by has_next()")
        trial = optuna.Trial(self.study, trial_id)
        key = trial_key(self.study._storage.get_trial(trial_id))
        scheme, seed = self.wanted[key]
        trial.set_user_attr("driver", self.driver_id)
        job = TrialJob(
            study_name=self.cfg.name,
            storage_url=self.handle.storage_url,
            trial_id=trial_id,
            trial_number=trial.number,
            spec=self.cfg.trial_spec(scheme.init, seed=seed),
            seeds=(seed,),
            metrics=tuple(self.cfg.objective.metrics),
            prune=False,
            pruner=self.cfg.pruner.model_dump(),
        )
        return job, trial, {"init": scheme.init, "started": time.time()}

    def trial_seeds(self, trial: optuna.Trial) -> list[int]:
        return [int(trial.user_attrs["seed"])]

    def record(self, trial: optuna.Trial, outcome: TrialOutcome, init: InitSpec) -> None:
        trial.set_user_attr("run", run_record(outcome))  # before tell: finished trials are frozen
        super().record(trial, outcome, init)


def run_comparison(
    plan: ComparePlan,
    pool: TrialPool,
    on_progress: Callable[[StudyProgress], None] | None = None,
) -> CompareDriver:
    """Train every pair of the plan that has no finished run; returns the driver used."""
    driver = CompareDriver(plan, pool, on_progress)
    driver.run()
    return driver
