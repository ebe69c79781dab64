"""Study definitions: the shipped files load; every bad input is an error naming its key."""

from __future__ import annotations

import typing
from pathlib import Path

import optuna
import pytest
import yaml

from initsearch.config import PrunerConfig, SamplerConfig, load_study, parse_study
from initsearch.errors import ConfigError
from initsearch.search.pruners import PRUNERS, build_pruner
from initsearch.search.samplers import SAMPLERS, build_sampler

STUDIES = sorted(Path(__file__).parents[1].joinpath("studies").glob("*.yaml"))


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_shipped_studies_are_valid(path):
    cfg = load_study(path)
    assert cfg.name == path.stem
    assert cfg.trial_spec(init=__import__("initsearch.inits").inits.InitSpec(), seed=0)


def test_there_are_the_promised_studies():
    names = {p.stem for p in STUDIES}
    assert {"quickstart", "deep_mlp_nobn"} <= names
    assert any("cifar" in n for n in names) and any("transformer" in n for n in names)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"name": "x", "modle": {}}, "modle: unknown key"),
        ({"name": "x", "train": {"epochs": "many"}}, "train.epochs"),
        ({"name": "x", "train": {"epochs": 0}}, "train.epochs"),
        ({"name": "x", "search": {"scale_low": 2.0, "scale_high": 1.0}}, "scale_low"),
        ({"name": "x", "search": {"emergence_alpha": [1.5, 1.1]}}, "emergence_alpha"),
        ({"name": "x", "search": {"groups": [[0, 1], [1, 2]]}}, "groups"),
        ({"name": "x", "objective": {"metric": "seconds_to_target"}}, "target_accuracy"),
        ({"name": "x", "objective": {"metric": "f1"}}, "objective.metric"),
        ({"name": "x", "sampler": {"name": "bohb"}}, "sampler.name"),
        ({"name": "x", "budget": {"trials": None}}, "budget"),
        ({"name": "bad name!"}, "name"),
        ({}, "name"),
    ],
)
def test_bad_definitions_name_the_key(raw, needle):
    with pytest.raises(ConfigError) as err:
        parse_study(raw, "test.yaml")
    assert needle in str(err.value)


def test_files_that_are_not_studies(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_study(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_study(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ConfigError, match="mapping"):
        load_study(listed)


def test_trial_spec_carries_the_study_settings():
    from initsearch.inits import InitSpec

    cfg = parse_study(
        {
            "name": "x",
            "train": {"epochs": 3, "lr": 0.1},
            "objective": {"metric": "seconds_to_target", "target_accuracy": 0.5},
            "budget": {"seeds_per_trial": 3, "first_seed": 7},
        }
    )
    spec = cfg.trial_spec(InitSpec(scales=(1.0, 2.0)), seed=7)
    assert spec.budget.epochs == 3 and spec.optimizer.lr == 0.1
    assert spec.budget.target_accuracy == 0.5
    assert cfg.budget.seeds == (7, 8, 9)
    assert cfg.objective.directions == ["minimize"]


def test_every_sampler_name_builds():
    """Each sampler a study file may name has a factory in the table, and it builds."""
    names = set(typing.get_args(SamplerConfig.model_fields["name"].annotation))
    assert names == set(SAMPLERS)
    dists = {"log_scale_0": optuna.distributions.FloatDistribution(-1.0, 1.0)}
    for name in sorted(names):
        sampler = build_sampler(SamplerConfig(name=name), dists)
        assert isinstance(sampler, optuna.samplers.BaseSampler)


def test_every_pruner_name_builds():
    """Each pruner a study file may name has a factory in the table, and it builds (also from
    the dict a pruner config becomes when it crosses a process boundary)."""
    names = set(typing.get_args(PrunerConfig.model_fields["name"].annotation))
    assert names == set(PRUNERS)
    for name in sorted(names):
        assert isinstance(build_pruner({"name": name}, epochs=5), optuna.pruners.BasePruner)
    kept = build_pruner(PrunerConfig(name="percentile", percentile=25.0), epochs=5)
    assert isinstance(kept, optuna.pruners.PercentilePruner)


def test_confirmation_seeds_must_be_fresh_and_test_split_is_opt_in():
    from initsearch.inits import InitSpec

    cfg = parse_study({"name": "x", "budget": {"seeds_per_trial": 3}})
    assert not set(cfg.budget.seeds) & set(cfg.confirm.seed_list)
    assert cfg.confirm.top_k == 3 and len(cfg.confirm.seed_list) == 10
    assert cfg.trial_spec(InitSpec(), seed=0).test_split is False
    assert cfg.trial_spec(InitSpec(), seed=0, test_split=True).test_split is True
    with pytest.raises(ConfigError, match="overlap the search's seeds .* raise confirm.first_seed"):
        parse_study({"name": "x", "budget": {"first_seed": 999, "seeds_per_trial": 3}})
    with pytest.raises(ConfigError, match="confirm.seeds"):
        parse_study({"name": "x", "confirm": {"seeds": 1}})


def test_val_fraction_reaches_the_data_spec():
    from initsearch.inits import InitSpec

    cfg = parse_study({"name": "x", "data": {"name": "digits", "val_fraction": 0.25}})
    assert cfg.trial_spec(InitSpec(), seed=0).data.val_fraction == 0.25
    with pytest.raises(ConfigError, match="data.val_fraction"):
        parse_study({"name": "x", "data": {"val_fraction": 1.5}})
