"""A suite file: many comparisons (model x data x settings), each a question's column.

A suite names shared ``defaults`` (any study-file sections: data, model, train, baselines,
ray...), the arms every comparison trains (``schemes``, the rule's ``alphas`` and named
``arms`` with explicit options, e.g. the depth-normalised rule), the paired ``seeds`` and
the ``comparisons``. Each comparison merges its ``study`` sections over the defaults, so a
column differs from its neighbours only where it says so; it names the ``question`` it
answers and its ``label`` (the column heading). A comparison with a ``search`` section is a
study: a search of per-layer scales on the validation split, then a confirmation of its
``top_k`` best on the suite's fresh seeds, judged on the test split.

Every comparison is stored as a study ``<name>`` under ``<workdir>/<suite>/`` (its own Optuna
storage and MLflow store), so ``initsearch compare``/``study`` commands can open any of them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from initsearch.config import StudyConfig, parse_study
from initsearch.config.sections import Strict
from initsearch.config.study import NAME_PATTERN, ConfirmConfig, describe, read_yaml
from initsearch.errors import ConfigError

Question = Literal["depth", "families", "searched"]
QUESTIONS: tuple[Question, ...] = ("depth", "families", "searched")
"""The questions a comparison can answer; the measure question reads every comparison's runs."""
SCHEMES = ("kaiming", "xavier", "orthogonal", "lps", "gradinit", "updater", "emergence")
"""The arms of every comparison unless the suite says otherwise (the rule at each alpha)."""
CONFIRM = ConfirmConfig()
"""A suite's seeds are a confirmation's: its defaults (count, first fresh seed, top k) are
the confirmation section's."""


class ArmConfig(Strict):
    """A named arm with explicit options, e.g. ``{scheme: emergence, options: {alpha: 1.2,
    ref_depth: 4}}``."""

    scheme: str
    options: dict[str, Any] = {}


class SearchStage(Strict):
    """A comparison that searches: ``trials`` searched trials on ``seeds_per_trial`` seeds
    (validation split), then the ``top_k`` best confirmed on the suite's seeds (test split)."""

    trials: int = Field(default=40, ge=1)
    seeds_per_trial: int = Field(default=2, ge=1)
    top_k: int = Field(default=CONFIRM.top_k, ge=1)


class ComparisonConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=80)
    question: Question
    label: str | None = None
    study: dict[str, Any] = {}
    schemes: list[str] | None = None
    alphas: list[float] | None = None
    arms: dict[str, ArmConfig] | None = None
    search: SearchStage | None = None

    @property
    def heading(self) -> str:
        return self.label or self.name


class SuiteConfig(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=80)
    description: str = ""
    workdir: str = "runs"
    seeds: int = Field(default=CONFIRM.seeds, ge=2)
    first_seed: int = Field(default=CONFIRM.first_seed, ge=0)
    defaults: dict[str, Any] = {}
    schemes: list[str] = [*SCHEMES]
    alphas: list[float] = [1.05, 1.1, 1.2]
    arms: dict[str, ArmConfig] = {}
    comparisons: list[ComparisonConfig] = Field(min_length=1)

    @field_validator("comparisons")
    @classmethod
    def _unique(cls, comparisons: list[ComparisonConfig]) -> list[ComparisonConfig]:
        names = [c.name for c in comparisons]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"comparison names must be unique; repeated: {', '.join(twice)}")
        return comparisons

    @model_validator(mode="after")
    def _seeds_fresh(self) -> SuiteConfig:
        for c in self.comparisons:
            if c.search and self.first_seed < c.search.seeds_per_trial:
                raise ValueError(
                    f"first_seed {self.first_seed} overlaps the search seeds of {c.name} "
                    f"(0..{c.search.seeds_per_trial - 1}); raise first_seed"
                )
        return self

    @property
    def folder(self) -> Path:
        """``<workdir>/<suite>``: every comparison's study, and the report."""
        return Path(self.workdir) / self.name

    def arms_of(self, comparison: ComparisonConfig) -> dict[str, ArmConfig]:
        return {**self.arms, **(comparison.arms or {})}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, mappings key by key (lists are replaced)."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def comparison_study(suite: SuiteConfig, comparison: ComparisonConfig) -> StudyConfig:
    """The study config of one comparison: defaults, then its own sections, stored in the
    suite's folder; a searching comparison's budget and confirmation from its ``search``."""
    raw = merge(suite.defaults, comparison.study)
    raw.update(name=comparison.name, workdir=str(suite.folder))
    if comparison.search is not None:
        stage = comparison.search
        raw["budget"] = merge(
            raw.get("budget", {}),
            {"trials": stage.trials, "seeds_per_trial": stage.seeds_per_trial, "first_seed": 0},
        )
        raw["confirm"] = {
            "top_k": stage.top_k,
            "seeds": suite.seeds,
            "first_seed": suite.first_seed,
        }
    return parse_study(raw, f"(suite {suite.name}, comparison {comparison.name})")


def parse_suite(raw: Any, source: str = "") -> SuiteConfig:
    """A validated suite; every comparison's study config is built once here, so a bad
    section fails before anything runs."""
    if not isinstance(raw, dict):
        raise ConfigError(f"suite {source} must be a YAML mapping of keys to values")
    try:
        suite = SuiteConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(describe(err, source, "suite")) from None
    for comparison in suite.comparisons:
        comparison_study(suite, comparison)
    return suite


def load_suite(path: str | Path) -> SuiteConfig:
    path = Path(path)
    return parse_suite(read_yaml(path, "suite", "suites/*.yaml"), str(path))
