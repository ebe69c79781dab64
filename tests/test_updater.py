"""Learned updater init: shape of its output, what it learns, determinism, architectures, errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initsearch.data import load_dataset
from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, apply, get_scheme
from initsearch.inits.registry import InitContext
from initsearch.inits.schemes.updater import OPTIONS, UpdaterConfig, meta_train, updater
from initsearch.inits.schemes.updater_net import (
    FEATURE_NAMES,
    ScaleUpdaterNet,
    layer_features,
    scaled_params,
    unrolled_loss,
)
from initsearch.models import ModelSpec, ScalableModel, build_model
from initsearch.models.base import weight_names

# cheap settings for tests that check plumbing rather than what is learned
QUICK = {"outer_iters": 3, "unroll_steps": 2, "batch_size": 32, "check_unrolls": 1}
# a deliberately under-scaled base (gain 0.1*sqrt(64) = 0.8 per layer instead of Kaiming's 1.41)
# on which a few SGD steps still learn, so the k-step loss has a signal to follow
UNDER = {"base": "normal", "std": 0.1}
UNDER_MODEL = ModelSpec("mlp", depth=3, width=64)
SEEDS = (0, 1)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: intra-op threads only add contention on a shared CPU (measured:
    the under-scaled fixture took 86 s with 2 threads next to other jobs, 2.6 s with 1)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist1d() -> Dataset:
    return load_dataset("mnist1d")


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def init(spec: ModelSpec, data: Dataset, scheme: str, options: dict, seed: int):
    torch.manual_seed(seed)
    model = build_model(spec, data)
    report = apply(model, InitSpec(scheme, options=options), data=data)
    return model, report


def weights(model: ScalableModel) -> list[torch.Tensor]:
    return [layer.weight.detach().clone() for layer in model.scalable_layers()]


def heldout_k_step_loss(model: ScalableModel, data: Dataset, k: int, repeats: int = 6) -> float:
    """Mean test-set cross-entropy after ``k`` plain SGD steps (rate 0.1) on training batches
    drawn by a generator of its own, so base and updater inits see the same batches."""
    gen = torch.Generator().manual_seed(1234)
    params = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
    losses = []
    for _ in range(repeats):
        steps = []
        for _ in range(k):
            idx = torch.randperm(len(data.y_train), generator=gen)[:128]
            steps.append((data.x_train[idx], data.y_train[idx]))
        test = (data.x_test, data.y_test)
        loss = unrolled_loss(model, params, {}, steps, test, 0.1, create_graph=False)
        losses.append(float(loss.detach()))
    return sum(losses) / len(losses)


@pytest.fixture(scope="module")
def under_runs(mnist1d):
    """Per seed: the under-scaled base init and the updater on top of it (default options)."""
    runs = []
    for seed in SEEDS:
        base, _ = init(UNDER_MODEL, mnist1d, "normal", {"std": UNDER["std"]}, seed)
        upd, report = init(UNDER_MODEL, mnist1d, "updater", UNDER, seed)
        runs.append((base, upd, report))
    return runs


def test_scales_are_positive_per_layer_and_multiply_the_base_init(mnist1d):
    spec = ModelSpec("mlp", depth=2, width=16)
    base, _ = init(spec, mnist1d, "kaiming", {}, 3)
    model, report = init(spec, mnist1d, "updater", QUICK, 3)
    layers = model.scalable_layers()
    assert report.scheme == "updater"
    assert len(report.applied_scales) == len(layers) == 3
    assert all(math.isfinite(s) and s > 0 for s in report.applied_scales)
    assert report.layer_names == [layer.name for layer in layers]
    for w_base, w, s in zip(weights(base), weights(model), report.applied_scales, strict=True):
        torch.testing.assert_close(w, w_base * s)


def test_zero_outer_iterations_is_exactly_the_base_init(mnist1d):
    spec = ModelSpec("mlp", depth=2, width=16)
    base, _ = init(spec, mnist1d, "xavier", {}, 5)
    model, report = init(spec, mnist1d, "updater", {"base": "xavier", "outer_iters": 0}, 5)
    assert report.applied_scales == [1.0] * 3
    for w_base, w in zip(weights(base), weights(model), strict=True):
        torch.testing.assert_close(w, w_base, rtol=0, atol=0)


def test_features_see_a_misscaled_base(mnist1d):
    """The statistics the updater reads tell an under-scaled base from Kaiming."""
    feats = {}
    for scheme, options in (("kaiming", {}), ("normal", {"std": 1e-3})):
        model, _ = init(ModelSpec("mlp", depth=6, width=32), mnist1d, scheme, options, 0)
        x, y = mnist1d.x_train[:128], mnist1d.y_train[:128]
        feats[scheme] = layer_features(model, model.scalable_layers(), x, y)
        assert all(p.grad is None for p in model.parameters())
    assert feats["kaiming"].shape == (7, len(FEATURE_NAMES))
    assert torch.isfinite(feats["normal"]).all()
    act, gain = FEATURE_NAMES.index("log_act_std"), FEATURE_NAMES.index("log_gain")
    assert (feats["normal"][:, gain] < feats["kaiming"][:, gain] - 0.5).all()
    # the forward signal collapses with depth under the small base, not under Kaiming
    assert feats["normal"][-1, act] < feats["normal"][0, act] - 1.0
    assert feats["kaiming"][-1, act] > feats["kaiming"][0, act] - 0.5


def test_under_scaled_base_is_scaled_up(under_runs):
    for _base, model, report in under_runs:
        log_scales = torch.tensor(report.applied_scales).log()
        assert log_scales.mean() > math.log(1.25), report.applied_scales
        assert model.training


def test_updater_lowers_the_k_step_loss_on_heldout_data(under_runs, mnist1d):
    k = UpdaterConfig().unroll_steps
    base_losses = [heldout_k_step_loss(base, mnist1d, k) for base, _, _ in under_runs]
    upd_losses = [heldout_k_step_loss(upd, mnist1d, k) for _, upd, _ in under_runs]
    assert sum(upd_losses) / len(upd_losses) < sum(base_losses) / len(base_losses), (
        base_losses,
        upd_losses,
    )


def test_same_seed_same_scales_and_rng_stream(mnist1d):
    spec = ModelSpec("mlp", depth=2, width=16)
    runs = []
    for seed in (7, 7, 8):
        model, report = init(spec, mnist1d, "updater", QUICK, seed)
        runs.append((report.applied_scales, weights(model), torch.rand(3)))
    (s1, w1, r1), (s2, w2, r2), (s3, _, r3) = runs
    assert s1 == s2
    for a, b in zip(w1, w2, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(r1, r2, rtol=0, atol=0)
    assert s1 != s3 and not torch.equal(r1, r3)


@pytest.mark.parametrize(
    "spec, dataset",
    [
        (ModelSpec("mlp", depth=2, width=16, batch_norm=True), "mnist1d"),
        (ModelSpec("vgg", depth=11, width=2, batch_norm=True), "digits"),
        (ModelSpec("transformer", depth=1, width=8, heads=2, dropout=0.1), "mnist1d"),
    ],
    ids=["mlp-bn", "vgg-bn", "transformer"],
)
def test_runs_on_architectures(spec, dataset, mnist1d, digits):
    data = mnist1d if dataset == "mnist1d" else digits
    model, report = init(spec, data, "updater", QUICK, 0)
    assert len(report.applied_scales) == model.num_scalable()
    assert all(math.isfinite(s) and s > 0 for s in report.applied_scales)
    assert model.training
    assert all(p.grad is None for p in model.parameters())
    for module in model.modules():  # batch-norm running statistics are left untouched
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            assert int(module.num_batches_tracked) == 0
            torch.testing.assert_close(module.running_mean, torch.zeros_like(module.running_mean))


def test_diverging_unrolls_fall_back_to_the_base(mnist1d):
    """An absurd inner learning rate makes every unroll blow up: the updater keeps the base."""
    spec = ModelSpec("mlp", depth=2, width=16)
    torch.manual_seed(0)
    model = build_model(spec, mnist1d)
    apply(model, InitSpec("kaiming"), data=mnist1d)
    before = weights(model)
    config = UpdaterConfig(**{**QUICK, "inner_lr": 1e6})
    result = meta_train(model, model.scalable_layers(), mnist1d, config)
    assert not all(math.isfinite(v) for v in result.meta_losses)
    assert result.scales == [1.0] * 3 and result.fraction == 0.0
    for a, b in zip(before, weights(model), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_unroll_is_differentiable_in_the_log_scales(mnist1d):
    model, _ = init(ModelSpec("mlp", depth=2, width=16), mnist1d, "kaiming", {}, 0)
    layers = model.scalable_layers()
    base = {n: p.detach().requires_grad_(True) for n, p in model.named_parameters()}
    log_scales = torch.zeros(len(layers), requires_grad=True)
    params = scaled_params(base, weight_names(model, layers), log_scales)
    x, y = mnist1d.x_train[:64], mnist1d.y_train[:64]
    loss = unrolled_loss(model, params, {}, [(x, y), (x, y)], (x, y), 0.1)
    (grad,) = torch.autograd.grad(loss, [log_scales])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_net_starts_at_identity_and_is_bounded():
    torch.manual_seed(0)
    net = ScaleUpdaterNet(len(FEATURE_NAMES), hidden=16, max_log_scale=0.7)
    assert sum(p.numel() for p in net.parameters()) == 385
    feats = torch.randn(6, len(FEATURE_NAMES))
    assert torch.equal(net(feats), torch.zeros(6))
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0, 10)
    assert net(feats * 100).abs().max() <= 0.7 + 1e-6
    assert net(feats).std() > 0  # the output depends on the features


def test_registered_with_documented_options():
    info = get_scheme("updater")
    assert info.needs_data
    assert set(info.options) == set(OPTIONS)
    assert set(OPTIONS) - {"base"} <= set(UpdaterConfig.__dataclass_fields__)


def test_needs_data_and_valid_options(mnist1d):
    model = build_model(ModelSpec("mlp", depth=2, width=16), mnist1d)
    with pytest.raises(ConfigError, match="needs training data"):
        apply(model, InitSpec("updater"), data=None)
    ctx = InitContext(model, model.scalable_layers(), InitSpec("updater"), data=None)
    with pytest.raises(ConfigError, match="needs training data"):
        updater(ctx)
    for bad in (
        {"outer_iters": -1},
        {"unroll_steps": 0},
        {"inner_lr": 0},
        {"meta_lr": "fast"},
        {"max_log_scale": -1.0},
        {"batch_size": 2.5},
        {"base": "updater"},
    ):
        with pytest.raises(ConfigError):
            apply(model, InitSpec("updater", options=bad), data=mnist1d)
    with pytest.raises(ConfigError, match="unknown init scheme"):
        apply(model, InitSpec("updater", options={"base": "nope"}), data=mnist1d)
