"""The study file as a whole (:class:`StudyConfig`, ``load_study``) and the sections that
say how a study searches, judges and runs: search space, objective, sampler, pruner,
baselines, budget, confirmation, Ray."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from initsearch.config.schemes import check_study_inits, scheme_name
from initsearch.config.sections import DataConfig, ModelConfig, Strict, TrainConfig
from initsearch.errors import ConfigError
from initsearch.factories import add_import_paths
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.train import Budget, DataSpec, OptimizerSpec, TrialSpec
from initsearch.train.spec import LoopSpec, spec_from

Metric = Literal[
    "val_accuracy", "val_loss", "area_under_loss", "seconds_to_target", "first_epoch_accuracy"
]
MAXIMISE = {
    "val_accuracy": True,
    "first_epoch_accuracy": True,
    "val_loss": False,
    "area_under_loss": False,
    "seconds_to_target": False,
}


class SearchConfig(Strict):
    """What the sampler searches over the base init (initsearch.search.space).

    ``space: per_layer``: one log-scale per layer (or per tied group), each in
    [log(scale_low), log(scale_high)]. ``space: profile``: three numbers, log s_i = a + b t_i +
    c t_i^2 with t_i the layer's depth relative to the pivot (middle depth) over the half-range,
    so t runs from about -1 (first layer) to +1 (head); a in [log(scale_low),
    log(scale_high)], b in ``profile_slope``, c in ``profile_curvature``. The emergence rule is
    the point a = 0, b = log(alpha) * half-range, c = 0, and Kaiming (all ones) is the origin
    (docs/search-spaces.md).
    """

    base_init: str = "kaiming"
    space: Literal["per_layer", "profile"] = "per_layer"
    scale_low: float = Field(default=0.25, gt=0)
    scale_high: float = Field(default=4.0, gt=0)
    groups: list[list[int]] | None = None
    emergence_alpha: tuple[float, float] | None = None
    profile_slope: tuple[float, float] = (-1.5, 1.5)
    profile_curvature: tuple[float, float] = (-1.0, 1.0)

    @field_validator("base_init")
    @classmethod
    def _registered(cls, name: str) -> str:
        return scheme_name(name)

    @model_validator(mode="after")
    def _bounds(self) -> SearchConfig:
        if not self.scale_low < self.scale_high:
            raise ValueError(
                f"scale_low ({self.scale_low}) must be below scale_high ({self.scale_high})"
            )
        if self.emergence_alpha is not None:
            lo, hi = self.emergence_alpha
            if not 0 < lo < hi:
                raise ValueError(
                    f"emergence_alpha must be [low, high] with 0 < low < high, "
                    f"got {list(self.emergence_alpha)}"
                )
        for key in ("profile_slope", "profile_curvature"):
            lo, hi = getattr(self, key)
            if not lo < hi:
                raise ValueError(f"{key} must be [low, high] with low < high, got {[lo, hi]}")
        if self.space == "profile" and (self.groups or self.emergence_alpha):
            raise ValueError(
                "space: profile already ties every layer to three numbers (and contains the "
                "emergence rule); remove search.groups and search.emergence_alpha, or use "
                "space: per_layer"
            )
        if self.groups is not None:
            flat = [i for g in self.groups for i in g]
            if len(flat) != len(set(flat)) or any(i < 0 for i in flat):
                raise ValueError("groups must list distinct non-negative layer indices")
        return self


class ObjectiveConfig(Strict):
    metric: Metric = "val_accuracy"
    second: Metric | None = None
    target_accuracy: float | None = Field(default=None, gt=0, le=1)

    @model_validator(mode="after")
    def _target(self) -> ObjectiveConfig:
        if "seconds_to_target" in (self.metric, self.second) and self.target_accuracy is None:
            raise ValueError("metric seconds_to_target needs objective.target_accuracy")
        if self.second == self.metric:
            raise ValueError("objective.second must differ from objective.metric")
        return self

    @property
    def metrics(self) -> list[str]:
        return [self.metric] + ([self.second] if self.second else [])

    @property
    def directions(self) -> list[str]:
        return ["maximize" if MAXIMISE[m] else "minimize" for m in self.metrics]


class SamplerConfig(Strict):
    name: Literal["tpe", "cmaes", "gp", "random", "grid"] = "tpe"
    seed: int | None = 0


class PrunerConfig(Strict):
    """Early stopping of searched trials (baselines always run to the end).

    median: stop a trial whose curve is worse than the median of earlier trials at the same
    epoch; percentile: stop it when it is among the worst ``percentile`` percent there (25 =
    the worst quarter). Both wait ``warmup_epochs`` and ``startup_trials`` finished trials.
    hyperband: Optuna's Hyperband over epochs.
    """

    name: Literal["median", "percentile", "hyperband", "none"] = "median"
    warmup_epochs: int = Field(default=1, ge=0)
    startup_trials: int = Field(default=5, ge=0)
    percentile: float = Field(default=25.0, gt=0, lt=100)


class BaselinesConfig(Strict):
    """Init schemes run as trials of the study before the search (each exactly once);
    ``options``: scheme name -> its init options (for the baselines and comparisons alike)."""

    schemes: list[str] = ["kaiming", "xavier", "emergence", "lps", "gradinit"]
    emergence_alphas: list[Annotated[float, Field(gt=0)]] = [1.1, 1.3]
    options: dict[str, dict[str, Any]] = {}

    @field_validator("schemes")
    @classmethod
    def _registered(cls, names: list[str]) -> list[str]:
        return [scheme_name(name) for name in names]

    @field_validator("options")
    @classmethod
    def _registered_keys(cls, options: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for name in options:
            scheme_name(name)
        return options


class BudgetConfig(Strict):
    trials: int | None = Field(default=20, ge=1)
    timeout_minutes: float | None = Field(default=None, gt=0)
    seeds_per_trial: int = Field(default=1, ge=1)
    first_seed: int = Field(default=0, ge=0)

    @property
    def seeds(self) -> tuple[int, ...]:
        """Every trial trains on the same seeds: a paired design across inits."""
        return tuple(range(self.first_seed, self.first_seed + self.seeds_per_trial))

    @model_validator(mode="after")
    def _some_limit(self) -> BudgetConfig:
        if self.trials is None and self.timeout_minutes is None:
            raise ValueError("give budget.trials, budget.timeout_minutes or both")
        return self


class ConfirmConfig(Strict):
    """The confirmation stage (initsearch.confirm): after the search, the ``top_k`` best
    searched configurations (by their mean validation objective) and every baseline train again
    on ``seeds`` fresh paired seeds (``first_seed``, ``first_seed`` + 1, ...; disjoint from the
    search's) and are judged on the test split. ``after_search``: ``study start`` runs it once
    the search budget is spent (``initsearch study confirm`` runs it on demand)."""

    after_search: bool = True
    top_k: int = Field(default=3, ge=1)
    seeds: int = Field(default=10, ge=2)
    first_seed: int = Field(default=1000, ge=0)

    @property
    def seed_list(self) -> tuple[int, ...]:
        return tuple(range(self.first_seed, self.first_seed + self.seeds))


class RayConfig(Strict):
    """Where trials run. ``cpus_per_trial``/``gpus_per_trial`` are the Ray resources of one
    task, which trains one trial or one pack. ``pack``: trials trained together as one
    vectorised model in a task (initsearch.train.pack); ``auto`` sizes packs from the model and
    the device's free memory (initsearch.train.pack_size), 1 turns packing off."""

    address: str | None = None
    cpus_per_trial: float = Field(default=1.0, gt=0)
    gpus_per_trial: float = Field(default=0.0, ge=0)
    workers: int | None = Field(default=None, ge=1)
    pack: Annotated[int, Field(ge=1, le=4096)] | Literal["auto"] = "auto"


NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
"""A study's name is one folder under ``workdir`` (and part of its MLflow experiment's): a
single path component that starts with a letter, digit or underscore, so neither ``.`` nor
``..`` (which would put the study's files outside its workdir), nor a hidden folder, nor
anything a shell would read as an option."""


class StudyConfig(Strict):
    name: str = Field(max_length=100)
    description: str = ""
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    search: SearchConfig = SearchConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    sampler: SamplerConfig = SamplerConfig()
    pruner: PrunerConfig = PrunerConfig()
    baselines: BaselinesConfig = BaselinesConfig()
    budget: BudgetConfig = BudgetConfig()
    confirm: ConfirmConfig = ConfirmConfig()
    storage: str | None = None
    tracking_uri: str | None = None
    ray: RayConfig = RayConfig()
    workdir: str = "runs"

    @field_validator("name")
    @classmethod
    def _one_folder(cls, name: str) -> str:
        if not re.fullmatch(NAME_PATTERN, name):
            raise ValueError(
                f"{name!r} is no safe folder name: use letters, digits, '_', '.' and '-', "
                "starting with a letter, digit or '_' (the study's files go to WORKDIR/NAME)"
            )
        return name

    @model_validator(mode="after")
    def _fresh_confirmation_seeds(self) -> StudyConfig:
        overlap = sorted(set(self.budget.seeds) & set(self.confirm.seed_list))
        if overlap:
            raise ValueError(
                f"confirm seeds {list(self.confirm.seed_list)} overlap the search's seeds "
                f"{list(self.budget.seeds)} at {overlap}: the confirmation must re-measure on "
                "fresh seeds; raise confirm.first_seed"
            )
        return self

    @model_validator(mode="after")
    def _init_options(self) -> StudyConfig:
        search, baselines = self.search, self.baselines
        check_study_inits(
            search.base_init,
            search.emergence_alpha is not None,
            baselines.schemes,
            baselines.options,
        )
        return self

    def trial_spec(self, init: InitSpec, seed: int, test_split: bool = False) -> TrialSpec:
        """The engine spec of one trial of this study (the sections use the engine specs'
        field names; the optimizer is ``train.optimizer``). ``test_split``: also measure the
        test split (confirmation and comparisons only; the search sees validation only)."""
        train = self.train.model_dump()
        return TrialSpec(
            model=spec_from(ModelSpec, self.model.model_dump()),
            data=spec_from(DataSpec, self.data.model_dump()),
            init=init,
            optimizer=spec_from(OptimizerSpec, {**train, "name": self.train.optimizer}),
            budget=spec_from(Budget, {**train, "target_accuracy": self.objective.target_accuracy}),
            seed=seed,
            device=self.train.device,
            bf16=self.train.bf16,
            test_split=test_split,
            loop=LoopSpec(self.train.function, dict(self.train.kwargs)),
        )

    @property
    def log_scale_bounds(self) -> tuple[float, float]:
        return math.log(self.search.scale_low), math.log(self.search.scale_high)


def describe(error: ValidationError, source: str, kind: str = "study definition") -> str:
    """One line per problem (one line in all for a single problem), each naming its key."""
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check its spelling against the documented keys)"
        lines.append(f"{key}: {message}" if key else message)
    if len(lines) == 1:
        return f"invalid {kind} {source}: {lines[0]}"
    return f"invalid {kind} {source}:\n  " + "\n  ".join(lines)


def parse_study(raw: Any, source: str = "") -> StudyConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"study definition {source} must be a YAML mapping of keys to values")
    try:
        return StudyConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(describe(err, source)) from None


def load_study(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML file; every problem is a ConfigError naming the key.
    The study's own code (``factory``/``function`` references) is imported from the current
    folder or the study file's folder, so both go on the import path."""
    path = Path(path)
    return parse_study(read_yaml(path, "study", "studies/*.yaml"), str(path))


def read_yaml(path: Path, kind: str, example: str) -> Any:
    """The YAML file's content; a missing or malformed file is a ConfigError. The file's own
    code (``factory``/``function`` references) is imported from the current folder or the
    file's folder, so both go on the import path."""
    import yaml

    if not path.is_file():
        raise ConfigError(f"{kind} file {path} does not exist; give the path to a {example}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{kind} file {path} is not valid YAML: {err}") from None
    add_import_paths([Path.cwd(), path.resolve().parent])
    return raw
