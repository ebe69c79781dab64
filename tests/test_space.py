"""The search spaces (initsearch.search.space): the per-layer space as it was, and the profile
space log s_i = a + b t_i + c t_i^2 in which the base init is the origin and the emergence rule
at alpha is the point (0, log(alpha) * half_range, 0)."""

from __future__ import annotations

import math
from typing import Any

import optuna
import pytest

from initsearch import stores
from initsearch.config import SamplerConfig, StudyConfig, parse_study
from initsearch.errors import ConfigError
from initsearch.inits import SchemeInfo, get_scheme
from initsearch.inits.schemes.emergence import rule_profile
from initsearch.search.baselines import study_baselines
from initsearch.search.samplers import build_sampler
from initsearch.search.space import (
    PROFILE_PARAMS,
    LayerInfo,
    closed_form_params,
    distributions,
    init_from_params,
    layer_info,
    param_name,
    profile_params,
    profile_positions,
    profile_scales,
    suggest,
    with_stored_names,
)


def study(depth: int = 4, **search: Any) -> StudyConfig:
    """A study over an MLP of ``depth`` hidden layers (depth + 1 scalable layers)."""
    return StudyConfig(name="t", model={"name": "mlp", "depth": depth, "width": 16}, search=search)


def rule_point(alpha: float, cfg: StudyConfig) -> dict[str, float] | None:
    options = {"alpha": alpha, "base": "kaiming"}
    return closed_form_params(get_scheme("emergence"), options, cfg, layer_info(cfg))


@pytest.mark.parametrize("depth", [4, 16])
@pytest.mark.parametrize("alpha", [1.1, 1.3])
def test_the_rule_is_a_point_of_the_profile_space(alpha, depth):
    # the rule at 1.3 over 17 layers has slope log(1.3) * 8 = 2.1, past the default 1.5
    cfg = study(depth, space="profile", profile_slope=(-3.0, 3.0))
    info = layer_info(cfg)
    assert info.count == depth + 1 and max(info.depths) == depth
    point = rule_point(alpha, cfg)
    assert point is not None and set(point) == set(PROFILE_PARAMS)
    half_range = max(depth // 2, depth - depth // 2)
    assert point["profile_a"] == pytest.approx(0.0, abs=1e-12)
    assert point["profile_b"] == pytest.approx(math.log(alpha) * half_range, abs=1e-12)
    assert point["profile_c"] == pytest.approx(0.0, abs=1e-12)
    init = init_from_params(point, cfg, info)
    assert init.scheme == "kaiming" and not init.options
    expected = rule_profile(info.depths, {"alpha": alpha})
    assert init.scales == pytest.approx(expected, rel=0, abs=1e-12)


def test_the_base_init_is_the_origin():
    cfg = study(space="profile")  # default baselines: kaiming, xavier, the rule at 1.1 and 1.3
    info = layer_info(cfg)
    baselines = {b.name: b for b in study_baselines(cfg, info)}
    assert baselines["kaiming"].params == dict.fromkeys(PROFILE_PARAMS, 0.0)
    assert baselines["xavier"].params is None
    assert init_from_params(baselines["kaiming"].params, cfg, info).scales == (1.0,) * info.count
    # the rule's baselines are points too, enqueued with their coordinates
    for alpha in (1.1, 1.3):
        rule = baselines[f"emergence(alpha={alpha:g})"].params
        assert rule is not None and rule["profile_b"] == pytest.approx(2 * math.log(alpha))


def test_points_outside_the_bounds_or_off_the_family_give_none():
    # the rule at 1.3 over a 16-deep MLP needs slope 2.1; the default bounds stop at 1.5
    assert rule_point(1.3, study(16, space="profile")) is None
    assert rule_point(1.1, study(16, space="profile")) is not None
    # a level outside [log(scale_low), log(scale_high)]: the rule with its pivot at depth 0
    cfg = study(16, space="profile", scale_low=0.5, scale_high=2.0)
    options = {"alpha": 1.1, "pivot": 0}
    assert closed_form_params(get_scheme("emergence"), options, cfg, layer_info(cfg)) is None
    # a profile no quadratic in depth fits
    zigzag = SchemeInfo(
        "zigzag", "", fn=lambda ctx: None, closed_form=lambda d, o: [1 + i % 2 for i in d]
    )
    cfg = study(space="profile")
    assert closed_form_params(zigzag, {}, cfg, layer_info(cfg)) is None
    # the base init is no point when 0 lies outside a parameter's bounds
    shifted = study(space="profile", profile_curvature=(0.5, 1.0))
    assert next(b for b in study_baselines(shifted, layer_info(shifted))).params is None


MLP_PARAMS = [f"log_scale_0{i}_hidden.{i}" for i in range(4)] + ["log_scale_04_head"]


def test_the_per_layer_space_names_each_parameter_after_its_layer():
    cfg = study()
    info = layer_info(cfg)
    assert list(distributions(cfg, info)) == MLP_PARAMS == sorted(MLP_PARAMS)
    tied = study(groups=[[1, 2]], emergence_alpha=(1.0, 1.5))
    names = list(distributions(tied, layer_info(tied)))
    assert names == ["log_scale_g01_hidden.1+1", *MLP_PARAMS[:1], *MLP_PARAMS[3:], "alpha"]
    point = rule_point(1.1, cfg)
    assert point == pytest.approx({p: (i - 2) * math.log(1.1) for i, p in enumerate(MLP_PARAMS)})
    kaiming = next(b for b in study_baselines(cfg, info) if b.name == "kaiming")
    assert kaiming.params == dict.fromkeys(MLP_PARAMS, 0.0)
    # eleven layers and more pad the index to the layer count's width; odd characters go
    deep = LayerInfo(tuple(f"blocks[{i}]/conv" for i in range(12)), tuple(range(12)))
    assert param_name([3], False, deep) == "log_scale_03_blocks_3__conv"
    wide = LayerInfo(("a",) * 101, (0,) * 101)
    assert param_name([7, 8], True, wide) == "log_scale_g007_a+1"


def test_a_study_stored_with_index_names_keeps_them_and_both_decode(tmp_path):
    cfg = study()
    info = layer_info(cfg)
    legacy = {f"log_scale_{i}": math.log(1.0 + i / 10) for i in range(5)}
    named = dict(zip(MLP_PARAMS, legacy.values(), strict=True))
    # both spellings give the same init
    assert init_from_params(legacy, cfg, info) == init_from_params(named, cfg, info)
    assert init_from_params(named, cfg, info).scales == pytest.approx([1.0, 1.1, 1.2, 1.3, 1.4])
    # a stored study with index names goes on asking for them; a new or named one uses names
    url = f"journal://{tmp_path / 'optuna.journal'}"
    assert not with_stored_names(info, url, "t").legacy_names  # no storage yet
    old = optuna.create_study(study_name="t", storage=stores.open_storage(url))
    old.enqueue_trial({})  # a baseline without a point comes first
    old.add_trial(optuna.trial.create_trial(params=legacy, distributions=_dists(legacy), value=1))
    kept = with_stored_names(info, url, "t")
    assert kept.legacy_names and list(distributions(cfg, kept)) == list(legacy)
    trial = old.ask()
    init = suggest(trial, cfg, kept)
    assert set(trial.params) == set(legacy) and len(init.scales) == 5
    optuna.create_study(study_name="n", storage=stores.open_storage(url)).add_trial(
        optuna.trial.create_trial(params=named, distributions=_dists(named), value=1)
    )
    assert not with_stored_names(info, url, "n").legacy_names


def _dists(params: dict[str, float]) -> dict[str, optuna.distributions.FloatDistribution]:
    return {name: optuna.distributions.FloatDistribution(-2.0, 2.0) for name in params}


@pytest.mark.parametrize("key, value", [("groups", [[0, 1]]), ("emergence_alpha", [1.0, 1.5])])
def test_profile_space_rejects_groups_and_the_rule_option(key, value):
    with pytest.raises(ConfigError, match="space: profile already ties every layer"):
        parse_study({"name": "t", "search": {"space": "profile", key: value}})


def test_suggest_asks_three_numbers_and_gives_one_scale_per_layer():
    cfg = study(space="profile")
    info = layer_info(cfg)
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    init = suggest(trial, cfg, info)
    assert set(trial.params) == set(PROFILE_PARAMS)
    assert init.scheme == "kaiming" and len(init.scales) == info.count
    assert init.scales == pytest.approx(profile_scales(info.depths, *trial.params.values()))


def test_the_grid_spans_low_middle_high_of_each_number():
    cfg = study(space="profile")
    info = layer_info(cfg)
    sampler = build_sampler(SamplerConfig(name="grid"), distributions(cfg, info))
    grid = optuna.create_study(sampler=sampler)
    grid.optimize(lambda trial: len(suggest(trial, cfg, info).scales), n_trials=27)
    points = {tuple(t.params[name] for name in PROFILE_PARAMS) for t in grid.trials}
    assert len(points) == 27 and (0.0, 0.0, 0.0) in points


def test_positions_and_fit():
    assert profile_positions([0, 1, 2, 3, 4]) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert profile_positions([0, 1, 2, 3]) == [-0.5, 0.0, 0.5, 1.0]  # pivot 1, half-range 2
    assert profile_positions([0, 0]) == [0.0, 0.0]
    depths = [0, 1, 1, 1, 2, 3, 4, 5]  # a shared depth (q, k, v) counts once per layer
    logs = [math.log(s) for s in profile_scales(depths, 0.3, -0.7, 0.4)]
    *point, residual = profile_params(depths, logs)
    assert point == pytest.approx([0.3, -0.7, 0.4], abs=1e-12) and residual < 1e-12
    # too few positions to see a curvature: the simplest profile is the point
    assert profile_params([0, 1], [0.0, 0.5]) == pytest.approx((0.0, 0.5, 0.0, 0.0))
    assert profile_params([3], [0.2]) == pytest.approx((0.2, 0.0, 0.0, 0.0))
