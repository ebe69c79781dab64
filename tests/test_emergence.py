"""Emergence rule, emergence measure (exact against brute force) and per-unit activity."""

from __future__ import annotations

import functools
import math
import random

import pytest
import torch
from torch import nn

from initsearch.data import Dataset, load_dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, apply, scheme_names
from initsearch.inits.measurement.emergence_measure import (
    emergence_count,
    emergence_of_dag,
    level_counts,
    log_emergence,
)
from initsearch.inits.measurement.layer_activity import following_activations, record_activity
from initsearch.inits.options import check_options
from initsearch.inits.registry import InitContext
from initsearch.inits.schemes.emergence import emergence, rule_profile
from initsearch.models import DataShape, ModelSpec, build_model

VECTOR = DataShape((12,), "vector", 5)
DIGITS = DataShape((1, 8, 8), "image", 10)


@functools.cache
def dataset(name: str) -> Dataset:
    return load_dataset(name)


@pytest.fixture(scope="module")
def mnist1d_batch() -> torch.Tensor:
    return dataset("mnist1d").x_train[:256]


def init(spec: ModelSpec, shape: DataShape, init_spec: InitSpec, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build_model(spec, shape)
    apply(model, init_spec)
    return model


# --- the rule ---------------------------------------------------------------------------------


def test_registered() -> None:
    assert "emergence" in scheme_names()


@pytest.mark.parametrize("base", ["kaiming", "xavier"])
def test_weights_are_base_times_alpha_powers(base: str) -> None:
    spec = ModelSpec(name="mlp", depth=4, width=16)  # depths 0..4, pivot 2
    ref = init(spec, VECTOR, InitSpec(base))
    torch.manual_seed(0)
    model = build_model(spec, VECTOR)
    report = apply(model, InitSpec("emergence", options={"alpha": 1.3, "base": base}))
    expected = [1.3 ** (d - 2) for d in range(5)]
    assert report.applied_scales == pytest.approx(expected)
    for layer, ref_layer, s in zip(
        model.scalable_layers(), ref.scalable_layers(), expected, strict=True
    ):
        torch.testing.assert_close(layer.weight, ref_layer.weight * s)


def test_pivot_option_and_user_scales_compose() -> None:
    spec = ModelSpec(name="mlp", depth=2, width=8)  # depths 0..2
    torch.manual_seed(0)
    model = build_model(spec, VECTOR)
    report = apply(
        model,
        InitSpec("emergence", scales=(2.0, 1.0, 1.0), options={"alpha": 2.0, "pivot": 0}),
    )
    assert report.applied_scales == pytest.approx([2.0 * 1.0, 2.0, 4.0])
    half = apply(model, InitSpec("emergence", options={"alpha": 2.0, "pivot": 1.0}))
    assert half.applied_scales == pytest.approx([0.5, 1.0, 2.0])


def test_biases_untouched() -> None:
    torch.manual_seed(0)
    model = build_model(ModelSpec(name="mlp", depth=2, width=8), VECTOR)
    layers = model.scalable_layers()
    with torch.no_grad():
        for layer in layers:
            layer.module.bias.fill_(0.25)
    emergence(InitContext(model, layers, InitSpec("emergence", options={"alpha": 1.5})))
    for layer in layers:
        assert torch.all(layer.module.bias == 0.25)


def test_qkv_share_a_scale_and_resnet_follows_depth() -> None:
    tf = build_model(ModelSpec(name="transformer", depth=2, width=8, heads=2), VECTOR)
    report = apply(tf, InitSpec("emergence", options={"alpha": 1.2}))
    by_name = dict(zip(report.layer_names, report.applied_scales, strict=True))
    assert by_name["blocks.0.attn.q"] == by_name["blocks.0.attn.k"] == by_name["blocks.0.attn.v"]
    assert by_name["blocks.0.attn.out"] == pytest.approx(1.2 * by_name["blocks.0.attn.q"])
    resnet = build_model(ModelSpec(name="resnet", depth=8, width=4), DIGITS)
    layers = resnet.scalable_layers()
    report = apply(resnet, InitSpec("emergence", options={"alpha": 1.2}))
    pivot = max(layer.depth for layer in layers) // 2
    assert report.applied_scales == pytest.approx(
        [1.2 ** (layer.depth - pivot) for layer in layers]
    )


def test_bias_free_relu_mlp_function_scales_by_product_of_scales() -> None:
    """Odd number of depth levels: product 1, function unchanged; even: logits x alpha**(L/2)."""
    x = torch.randn(32, 12)
    for depth, factor in ((4, 1.0), (3, 1.5**2)):  # 5 levels / 4 levels
        spec = ModelSpec(name="mlp", depth=depth, width=16)
        ref = init(spec, VECTOR, InitSpec("kaiming"))
        model = init(spec, VECTOR, InitSpec("emergence", options={"alpha": 1.5}))
        torch.testing.assert_close(model(x), ref(x) * factor, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "options",
    [
        {"alpha": 0.0},
        {"alpha": -1.1},
        {"alpha": "big"},
        {"alpha": True},
        {"alpha": float("inf")},
        {"pivot": 9},
        {"pivot": -1},
        {"pivot": "middle"},
        {"base": "zero"},
        {"ref_depth": 0},
        {"ref_depth": -4},
        {"ref_depth": "deep"},
        {"ref_depth": True},
        {"ref_depth": float("nan")},
    ],
)
def test_bad_options_raise_config_error(options: dict) -> None:
    model = build_model(ModelSpec(name="mlp", depth=2, width=8), VECTOR)
    with pytest.raises(ConfigError):
        apply(model, InitSpec("emergence", options=options))
    if "base" not in options:  # the closed form rejects what the scheme rejects
        with pytest.raises(ConfigError):
            rule_profile([0, 1, 2], options)


def test_ref_depth_keeps_the_total_range_at_every_depth() -> None:
    """alpha_eff = alpha**(ref_depth / max_depth): last/first factor alpha**ref_depth at depth
    4 and 32 alike, where the plain rule's range grows to alpha**32."""
    options = {"alpha": 1.2, "ref_depth": 4}
    check_options("emergence", options)  # a documented option
    for depth in (4, 32):
        spec = ModelSpec(name="mlp", depth=depth, width=8)
        ruled = build_model(spec, VECTOR)
        report = apply(ruled, InitSpec("emergence", options=options))
        scales = report.applied_scales
        assert scales[-1] / scales[0] == pytest.approx(1.2**4, rel=1e-12)
        depths = [layer.depth for layer in ruled.scalable_layers()]
        assert scales == pytest.approx(rule_profile(depths, options), rel=1e-12)
        plain = apply(ruled, InitSpec("emergence", options={"alpha": 1.2})).applied_scales
        assert plain[-1] / plain[0] == pytest.approx(1.2**depth, rel=1e-12)


def test_ref_depth_equal_to_max_depth_is_the_plain_rule() -> None:
    spec = ModelSpec(name="mlp", depth=6, width=8)  # depths 0..6
    plain = init(spec, VECTOR, InitSpec("emergence", options={"alpha": 1.3}))
    same = init(spec, VECTOR, InitSpec("emergence", options={"alpha": 1.3, "ref_depth": 6.0}))
    for a, b in zip(plain.scalable_layers(), same.scalable_layers(), strict=True):
        torch.testing.assert_close(a.weight, b.weight, rtol=1e-12, atol=0)
    assert rule_profile(range(7), {"alpha": 1.3, "ref_depth": 6}) == pytest.approx(
        rule_profile(range(7), {"alpha": 1.3})
    )


# --- the measure ------------------------------------------------------------------------------


def layered_dag(units: list[int]) -> tuple[int, list[tuple[int, int]], list[list[int]]]:
    """Fully connected consecutive levels: (node count, edges, node ids per level)."""
    ids, start = [], 0
    for n in units:
        ids.append(list(range(start, start + n)))
        start += n
    edges = [(u, v) for lo, hi in zip(ids[:-1], ids[1:], strict=True) for u in lo for v in hi]
    return start, edges, ids


def brute_force(num_nodes: int, edges: list[tuple[int, int]], active: set[int]) -> int:
    """Enumerate every path explicitly by DFS: the definition, no cleverness."""
    succ: dict[int, list[int]] = {v: [] for v in range(num_nodes)}
    for u, v in edges:
        succ[u].append(v)

    def paths_to_output(s: int) -> int:  # DFS inside H down to a node with no out-edges
        if not succ[s]:
            return 1
        return sum(paths_to_output(t) for t in succ[s] if t in active)

    return sum(
        paths_to_output(s)
        for x in range(num_nodes)
        if x not in active
        for s in succ[x]
        if s in active
    )


def test_closed_form_equals_brute_force_on_random_mlps() -> None:
    rng = random.Random(0)
    for trial in range(60):
        units = [rng.randint(1, 4) for _ in range(rng.randint(2, 5))]
        num, edges, ids = layered_dag(units)
        dead_level = rng.randrange(len(units)) if trial % 4 == 0 else None
        active: set[int] = set()
        for i, level in enumerate(ids):
            if i != dead_level:
                active |= {v for v in level if rng.random() < 0.6}
        counts = [sum(v in active for v in level) for level in ids]
        exact = brute_force(num, edges, active)
        assert emergence_of_dag(num, edges, active) == exact
        assert emergence_count(units, counts) == exact
        if exact == 0:
            assert log_emergence(units, counts) == float("-inf")
        else:
            assert log_emergence(units, counts) == pytest.approx(math.log(exact), rel=1e-12)


def test_dead_layer_cuts_every_path_below_it() -> None:
    units = [3, 3, 3, 3]
    assert emergence_count(units, [1, 2, 0, 3]) == 3 * 3  # only level 2 (3 dead x 3 top) counts
    assert log_emergence(units, [1, 2, 0, 3]) == pytest.approx(math.log(9))
    assert log_emergence(units, [1, 2, 3, 0]) == float("-inf")  # dead output: no path at all
    assert log_emergence(units, [3, 3, 3, 1]) == float("-inf")  # nothing inactive below the top


def test_dag_counts_skip_edges_like_brute_force() -> None:
    num, edges, ids = layered_dag([2, 2, 2])
    edges = edges + [(ids[0][0], ids[2][1])]  # a shortcut over the middle level
    # dead node 0 reaches active 2 (2 paths on) and, by the shortcut, 5 (1); dead 1 and 3: 2 each
    active = {ids[1][0], ids[2][0], ids[2][1]}
    assert emergence_of_dag(num, edges, active) == brute_force(num, edges, active) == 7


def test_log_space_handles_counts_that_overflow_floats() -> None:
    units, active = [1000] * 200, [500] * 200
    exact = emergence_count(units, active)  # ~500**200, far beyond float range
    assert exact > 10**500
    assert log_emergence(units, active) == pytest.approx(math.log(exact), rel=1e-12)


def test_level_counts_merge_side_by_side_layers() -> None:
    assert level_counts([0, 1, 1, 1, 2], [4, 8, 8, 8, 3], [1, 2, 3, 4, 3]) == (
        [4, 24, 3],
        [1, 9, 3],
    )
    with pytest.raises(ValueError):
        log_emergence([3, 2], [4, 1])


# --- activity ---------------------------------------------------------------------------------


def test_following_activation_modules_are_found() -> None:
    mlp = build_model(ModelSpec(name="mlp", depth=2, width=8, batch_norm=True), VECTOR)
    found = following_activations(mlp, mlp.scalable_layers(), torch.randn(2, 12))
    assert found == [mlp.acts[0], mlp.acts[1], None]
    resnet = build_model(ModelSpec(name="resnet", depth=8, width=4), DIGITS)
    found = following_activations(resnet, resnet.scalable_layers(), torch.randn(2, 1, 8, 8))
    block = resnet.blocks()[0]
    assert found[:3] == [resnet.stem_act, block.act1, block.act2] and found[-1] is None
    tf = build_model(ModelSpec(name="transformer", depth=1, width=8, heads=2), VECTOR)
    names = [layer.name for layer in tf.scalable_layers()]
    found = following_activations(tf, tf.scalable_layers(), torch.randn(2, 12))
    assert found[names.index("blocks.0.ff1")] is tf.blocks[0].act
    assert sum(m is not None for m in found) == 1


def test_record_activity_matches_a_manual_forward() -> None:
    torch.manual_seed(0)
    mlp = build_model(ModelSpec(name="mlp", depth=2, width=8), VECTOR).eval()
    x = torch.randn(20, 12)
    acts, logits = record_activity(mlp, mlp.scalable_layers(), x)
    with torch.no_grad():
        h1 = torch.relu(mlp.hidden[0](x))
    torch.testing.assert_close(acts[0].activity, h1.abs().mean(0).double())
    assert acts[0].std == pytest.approx(float(h1.std()), rel=1e-5)
    torch.testing.assert_close(acts[2].activity, logits.abs().mean(0).double())
    vgg = build_model(ModelSpec(name="vgg", depth=11, width=2), DIGITS).eval()
    acts, _ = record_activity(vgg, vgg.scalable_layers(), torch.randn(4, 1, 8, 8))
    assert [a.units for a in acts] == [c.out_channels for c in vgg.convs] + [10]


# --- the paper's claim ------------------------------------------------------------------------


def model_log_emergence(model: nn.Module, x: torch.Tensor, threshold: float) -> float:
    model.eval()
    acts, _ = record_activity(model, model.scalable_layers(), x)
    counts = [int(a.active(threshold).sum()) for a in acts]
    return log_emergence(*level_counts([a.depth for a in acts], [a.units for a in acts], counts))


@pytest.mark.parametrize("name", ["mlp", "vgg"])
def test_rule_scales_activity_by_cumulative_product(name: str, mnist1d_batch) -> None:
    """Zero biases, ReLU, max-pool: every unit's activity is multiplied by the product of the
    scales up to its layer (<= 1 under the rule), so at threshold 0 the active set, hence the
    measure, is exactly the base init's; only a threshold > 0 lets the rule move it."""
    spec = ModelSpec(name=name, depth=4 if name == "mlp" else 11, width=16 if name == "mlp" else 4)
    shape = DataShape((40,), "vector", 10)
    base = init(spec, shape, InitSpec("kaiming")).eval()
    ruled = init(spec, shape, InitSpec("emergence", options={"alpha": 1.5})).eval()
    base_acts, _ = record_activity(base, base.scalable_layers(), mnist1d_batch)
    ruled_acts, _ = record_activity(ruled, ruled.scalable_layers(), mnist1d_batch)
    pivot = base_acts[-1].depth // 2
    cumulative = 1.0
    for b, r in zip(base_acts, ruled_acts, strict=True):
        cumulative *= 1.5 ** (b.depth - pivot)
        assert cumulative <= 1.0 + 1e-12
        torch.testing.assert_close(r.activity, b.activity * cumulative, rtol=1e-4, atol=1e-9)
    assert model_log_emergence(base, mnist1d_batch, 0.0) == model_log_emergence(
        ruled, mnist1d_batch, 0.0
    )


def log_emergence_change(
    spec: ModelSpec, data_name: str, alpha: float, seeds: range, threshold: float = 0.05
) -> list[float]:
    """log E(rule) - log E(kaiming) per seed, on the first 256 training samples."""
    data = dataset(data_name)
    x = data.x_train[:256]
    changes = []
    for seed in seeds:
        base = init(spec, DataShape.from_dataset(data), InitSpec("kaiming"), seed)
        rule = InitSpec("emergence", options={"alpha": alpha})
        ruled = init(spec, DataShape.from_dataset(data), rule, seed)
        changes.append(
            model_log_emergence(ruled, x, threshold) - model_log_emergence(base, x, threshold)
        )
    return changes


def test_claim_rule_raises_measure_on_mlp() -> None:
    spec = ModelSpec(name="mlp", depth=6, width=64)
    up = log_emergence_change(spec, "mnist1d", 1.2, range(5))
    assert sum(up) / len(up) > 0 and sum(c > 0 for c in up) >= 4
    down = log_emergence_change(spec, "mnist1d", 1 / 1.2, range(5))  # the reverse rule
    assert sum(down) / len(down) < 0


def test_claim_rule_raises_measure_on_small_resnet() -> None:
    spec = ModelSpec(name="resnet", depth=8, width=4)
    changes = log_emergence_change(spec, "digits", 1.5, range(4))
    assert sum(changes) / len(changes) > 0 and sum(c > 0 for c in changes) >= 3


def test_claim_does_not_hold_for_plain_vgg() -> None:
    """A limit of the claim under this measure: in a plain CNN whose activity already decays
    with depth, shrinking the middle layers empties the levels below the head."""
    changes = log_emergence_change(
        ModelSpec(name="vgg", depth=11, width=4), "mnist1d", 1.5, range(3)
    )
    assert sum(changes) / len(changes) < 0
