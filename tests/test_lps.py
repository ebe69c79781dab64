"""LPS (reconstruction): the linear-product pieces, the claimed dying-ReLU property, every model.

The dead-unit comparison is the paper's claim measured for real: deep, narrow ReLU MLPs, 10 seeds,
dead units counted on a held-out batch (not the probe LPS anchored on).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from initsearch.data import load_dataset
from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, apply, get_scheme
from initsearch.inits.schemes.lps import (
    conv_anchor_rows,
    init_layer,
    quadratic_relu,
    relu_roots,
    start_solutions,
)
from initsearch.models import DataShape, ModelSpec, build_model
from initsearch.models.mlp import MLP
from initsearch.train import Budget, OptimizerSpec, TrialSpec, run_trial

GAUSS = DataShape((40,), "vector", 10)
SEEDS = range(10)


@pytest.fixture(scope="module")
def digits() -> Dataset:
    return load_dataset("digits")


def post_relu(model: MLP, x: torch.Tensor) -> list[torch.Tensor]:
    """Each hidden layer's post-activation output on ``x``."""
    outs: list[torch.Tensor] = []
    hooks = [a.register_forward_hook(lambda _m, _i, o: outs.append(o)) for a in model.acts]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return outs


def dead_profile(scheme: str, depth: int, width: int, **options: object) -> tuple[float, float]:
    """(mean dead-unit fraction, fraction of nets without a fully dead layer) over SEEDS.

    A unit is dead when its post-ReLU output is zero for every sample of a held-out batch.
    """
    dead, alive_nets = [], 0
    for seed in SEEDS:
        torch.manual_seed(seed)
        model = build_model(ModelSpec("mlp", depth=depth, width=width), GAUSS)
        apply(model, InitSpec(scheme, options=dict(options)))
        x = torch.randn(256, 40, generator=torch.Generator().manual_seed(1000 + seed))
        per_layer = [(o <= 0).all(dim=0) for o in post_relu(model, x)]  # type: ignore[arg-type]
        dead.append(float(torch.cat(per_layer).float().mean()))
        alive_nets += not any(bool(d.all()) for d in per_layer)
    return sum(dead) / len(dead), alive_nets / len(SEEDS)


def test_quadratic_factors_are_relu_roots() -> None:
    """p approximates ReLU on [-1, 1]; its roots give the linear factors, r+ > 0 > r-."""
    z = torch.linspace(-1, 1, 201, dtype=torch.float64)
    assert float((quadratic_relu(z) - F.relu(z)).abs().max()) < 0.1
    v = torch.linspace(0.1, 1.0, 10, dtype=torch.float64)
    plus, minus = relu_roots(v)
    assert torch.allclose(quadratic_relu(plus), v) and torch.allclose(quadratic_relu(minus), v)
    assert bool((plus > 0).all()) and bool((minus < 0).all())


def test_start_solutions_match_direct_square_solve() -> None:
    """The cheap sampler solves the anchor factors exactly and has the same distribution as
    solving [A; R] w = [t; 0] with a fresh Gaussian R per unit."""
    from scipy.stats import ks_2samp

    torch.manual_seed(0)
    m, k, n = 4000, 2, 7
    a = torch.randn(m, k, n, dtype=torch.float64)
    t = torch.rand(m, k, dtype=torch.float64)
    w = start_solutions(a, t)
    assert float((torch.einsum("mkn,mn->mk", a, w) - t).abs().max()) < 1e-8
    r = torch.randn(m, n - k, n, dtype=torch.float64)
    rhs = torch.cat([t, torch.zeros(m, n - k, dtype=torch.float64)], dim=1)
    direct = torch.linalg.solve(torch.cat([a, r], dim=1), rhs)
    w_p = torch.linalg.pinv(a) @ t.unsqueeze(-1)
    for sample in (w, direct):  # both: particular solution + a null-space part
        assert float((torch.einsum("mkn,mn->mk", a, sample) - t).abs().max()) < 1e-6

    def null_log_size(sample: torch.Tensor) -> torch.Tensor:
        return torch.log((sample - w_p.squeeze(-1)).norm(dim=1) / w_p.squeeze(-1).norm(dim=1))

    assert ks_2samp(null_log_size(w).numpy(), null_log_size(direct).numpy()).pvalue > 1e-3
    # directions: the null part's cosine with a fixed vector is distributed alike
    e = torch.randn(n, dtype=torch.float64)
    cos = [F.cosine_similarity(s - w_p.squeeze(-1), e.expand(m, n), dim=1) for s in (w, direct)]
    assert ks_2samp(cos[0].numpy(), cos[1].numpy()).pvalue > 1e-3


def test_start_solutions_handle_repeated_anchors_and_full_rank() -> None:
    torch.manual_seed(1)
    row = torch.randn(3, 1, 5, dtype=torch.float64)
    w = start_solutions(row.expand(3, 2, 5).clone(), torch.full((3, 2), 0.5, dtype=torch.float64))
    assert bool(torch.isfinite(w).all())
    assert torch.allclose(
        torch.einsum("mn,mn->m", row[:, 0], w), torch.full((3,), 0.5, dtype=torch.float64)
    )
    a = torch.randn(3, 4, 4, dtype=torch.float64)  # k = n: no free directions left
    t = torch.rand(3, 4, dtype=torch.float64)
    assert torch.allclose(start_solutions(a, t), torch.linalg.solve(a, t))


@pytest.mark.parametrize(
    "conv", [nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.Conv1d(2, 4, 5, stride=2, padding=2)]
)
def testconv_anchor_rows_are_real_patches(conv: nn.Conv1d | nn.Conv2d) -> None:
    """Every anchor row is one of the conv's input patches (a column of unfold), nonzero."""
    torch.manual_seed(2)
    x = torch.randn(3, conv.in_channels, *((7, 6) if isinstance(conv, nn.Conv2d) else (9,)))
    rows = conv_anchor_rows(conv, x, 20)
    if isinstance(conv, nn.Conv2d):
        cols = F.unfold(x, conv.kernel_size, padding=conv.padding, stride=conv.stride)
    else:
        cols = F.unfold(
            x.unsqueeze(2),
            (1, conv.kernel_size[0]),
            padding=(0, conv.padding[0]),  # type: ignore[index]
            stride=(1, conv.stride[0]),
        )
    cols = cols.transpose(1, 2).reshape(-1, rows.shape[1])
    assert rows.shape == (20, conv.weight[0].numel())
    gap = (rows.unsqueeze(1) - cols.unsqueeze(0)).abs().amax(dim=2).min(dim=1).values
    assert float(gap.max()) < 1e-6
    assert bool((rows.abs().sum(dim=1) > 0).all())


def test_layer_hits_its_variance_target_and_anchors_stay_active() -> None:
    """On the probe the layer's mean E[relu(z)^2] equals gain^2 E[x^2]; rows share one norm;
    no unit is dead on the probe (each is active on its anchor)."""
    torch.manual_seed(3)
    model = build_model(ModelSpec("mlp", depth=1, width=12), GAUSS)
    layer = model.scalable_layers()[0]
    probe = torch.randn(64, 40) * 3.0
    with torch.no_grad():
        layer.module.bias.zero_()  # apply() does this before a scheme runs
        init_layer(model, layer, probe, anchors=1, gain=1.5)
        z = layer.module(probe)
    target = 1.5**2 * float(probe.pow(2).mean())
    assert math.isclose(float(F.relu(z).pow(2).mean()), target, rel_tol=1e-4)
    norms = layer.weight.norm(dim=1)
    assert torch.allclose(norms, norms[0].expand_as(norms), rtol=1e-5)
    assert bool((z > 0).any(dim=0).all())


def test_lps_has_fewer_dead_relus_than_kaiming() -> None:
    """The paper's claim, measured: deep narrow ReLU MLPs, 10 seeds, held-out Gaussian batch."""
    kaiming_dead, kaiming_alive = dead_profile("kaiming", depth=20, width=4)
    lps_dead, lps_alive = dead_profile("lps", depth=20, width=4)
    assert lps_dead < 0.02 < 0.2 < kaiming_dead  # measured: ~0.00 vs ~0.49
    assert lps_alive == 1.0 > kaiming_alive  # measured: 1.0 vs 0.5
    kaiming_dead, _ = dead_profile("kaiming", depth=40, width=8)
    lps_dead, _ = dead_profile("lps", depth=40, width=8)
    ablation_dead, _ = dead_profile("lps", depth=40, width=8, anchors=0)
    assert lps_dead < 0.02 < 0.2 < kaiming_dead
    assert lps_dead < ablation_dead  # the anchor factors, not the rescaling, keep units alive


def test_lps_data_keeps_units_alive_on_real_data() -> None:
    """Data-aware variant on MNIST-1D, dead units counted on test inputs it never saw."""
    data = load_dataset("mnist1d")
    dead = {}
    for scheme in ("kaiming", "lps_data"):
        fractions = []
        for seed in range(5):
            torch.manual_seed(seed)
            model = build_model(ModelSpec("mlp", depth=20, width=6), data)
            apply(model, InitSpec(scheme), data=data)
            outs = post_relu(model, data.x_test[:256])  # type: ignore[arg-type]
            fractions.append(float(torch.cat([(o <= 0).all(dim=0) for o in outs]).float().mean()))
        dead[scheme] = sum(fractions) / len(fractions)
    assert dead["lps_data"] < 0.02 < 0.1 < dead["kaiming"]


def test_signal_stays_in_range_through_depth() -> None:
    """Post-activation RMS on a held-out batch stays within a factor 3 of the input's."""
    for seed in range(3):
        torch.manual_seed(seed)
        model = build_model(ModelSpec("mlp", depth=30, width=16), GAUSS)
        apply(model, InitSpec("lps"))
        x = torch.randn(256, 40, generator=torch.Generator().manual_seed(seed + 50))
        rms = [float(o.pow(2).mean().sqrt()) for o in post_relu(model, x)]  # type: ignore[arg-type]
        assert all(1 / 3 < r < 3 for r in rms), rms


def test_signal_stays_flat_through_a_resnet_without_norm(digits: Dataset) -> None:
    """Block outputs of a BN-free ResNet keep their RMS: the fit shrinks a positively biased
    residual branch instead of letting each sum grow (Kaiming's grows up to ~2x energy/block)."""
    torch.manual_seed(0)
    model = build_model(ModelSpec("resnet", depth=20, width=4), digits)
    apply(model, InitSpec("lps_data"), data=digits)
    outs: list[torch.Tensor] = []
    for block in model.blocks():  # type: ignore[operator]
        block.act2.register_forward_hook(lambda _m, _i, o: outs.append(o))
    with torch.no_grad():
        model(digits.x_test[:256])
    rms = [float(o.pow(2).mean().sqrt()) for o in outs]
    assert len(rms) == 9 and all(1 / 3 < r < 3 for r in rms) and max(rms) < 1.5 * min(rms), rms


def test_deterministic_for_a_seed_and_shapes_kept() -> None:
    def weights(seed: int) -> list[torch.Tensor]:
        torch.manual_seed(seed)
        model = build_model(ModelSpec("mlp", depth=3, width=8), GAUSS)
        shapes = [layer.weight.shape for layer in model.scalable_layers()]
        apply(model, InitSpec("lps"))
        assert [layer.weight.shape for layer in model.scalable_layers()] == shapes
        return [layer.weight.detach().clone() for layer in model.scalable_layers()]

    first, again, other = weights(0), weights(0), weights(1)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec("mlp", depth=3, width=8, batch_norm=True, dropout=0.1),
        ModelSpec("vgg", depth=11, width=4),
        ModelSpec("resnet", depth=8, width=4, batch_norm=True),
        ModelSpec("transformer", depth=1, width=8, heads=2, activation="gelu"),
    ],
    ids=lambda s: s.name,
)
@pytest.mark.parametrize("scheme", ["lps", "lps_data"])
def test_every_model_kind(spec: ModelSpec, scheme: str, digits: Dataset) -> None:
    """Conv and attention weights are set, outputs finite, BN buffers and modes untouched,
    and no ReLU channel is dead on held-out inputs."""
    torch.manual_seed(0)
    model = build_model(spec, digits)
    model.eval()
    buffers = [b.clone() for b in model.buffers()]
    before = [layer.weight.detach().clone() for layer in model.scalable_layers()]
    apply(model, InitSpec(scheme), data=digits)
    assert not model.training and all(not m.training for m in model.modules())
    assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers(), strict=True))
    layers = model.scalable_layers()
    assert all(not torch.equal(b, la.weight) for b, la in zip(before, layers, strict=True))
    outs: list[torch.Tensor] = []
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    hooks = [m.register_forward_hook(lambda _m, _i, o: outs.append(o)) for m in relus]
    model.train()
    with torch.no_grad():
        y = model(digits.x_test[:128])
    for h in hooks:
        h.remove()
    assert bool(torch.isfinite(y).all()) and float(y.std()) > 0
    assert len(outs) == len(relus)
    for o in outs:  # a channel is dead if zero on every sample and position
        assert bool((o.movedim(1, 0).reshape(o.shape[1], -1) > 0).any(dim=1).all())


def test_conv_model_without_data_needs_input_shape() -> None:
    model = build_model(ModelSpec("vgg", depth=11, width=4), DataShape((1, 8, 8), "image", 10))
    with pytest.raises(ConfigError, match="input_shape"):
        apply(model, InitSpec("lps"))
    apply(model, InitSpec("lps", options={"input_shape": [1, 8, 8]}))
    assert bool(torch.isfinite(model(torch.randn(4, 1, 8, 8))).all())


def test_sequence_mlp_without_data_and_embedding_fallback() -> None:
    torch.manual_seed(0)
    model = build_model(ModelSpec("mlp", depth=2, width=8), DataShape((6,), "sequence", 3, 11))
    apply(model, InitSpec("lps"))
    embed = model.scalable_layers()[0].weight  # Kaiming normal fallback: std 1/sqrt(8)
    assert 0.2 < float(embed.detach().std()) < 0.6
    assert bool(torch.isfinite(model(torch.randint(11, (4, 6)))).all())


@pytest.mark.parametrize(
    "options",
    [{"anchors": -1}, {"anchors": 1.5}, {"gain": 0}, {"probe_size": 0}, {"input_shape": "x"}],
)
def test_bad_options_raise_config_error(options: dict[str, object]) -> None:
    model = build_model(ModelSpec("mlp", depth=2, width=4), GAUSS)
    with pytest.raises(ConfigError):
        apply(model, InitSpec("lps", options=options))


def test_registration_and_data_requirement() -> None:
    assert not get_scheme("lps").needs_data and get_scheme("lps_data").needs_data
    assert {"anchors", "gain", "probe_size"} <= set(get_scheme("lps_data").options)
    model = build_model(ModelSpec("mlp", depth=2, width=4), GAUSS)
    with pytest.raises(ConfigError, match="needs training data"):
        apply(model, InitSpec("lps_data"))


def test_short_training_matches_kaiming(digits: Dataset) -> None:
    """Three epochs on digits: LPS within 5 points of Kaiming (mean of 2 seeds)."""
    acc: dict[str, float] = {}
    for scheme in ("kaiming", "lps"):
        runs = []
        for seed in range(2):
            spec = TrialSpec(
                model=ModelSpec("mlp", depth=3, width=32),
                init=InitSpec(scheme),
                optimizer=OptimizerSpec("sgd", lr=0.05),
                budget=Budget(epochs=3, batch_size=64),
                seed=seed,
            )
            runs.append(run_trial(spec, digits).curve.val_accuracy[-1])
        acc[scheme] = sum(runs) / len(runs)
    assert acc["kaiming"] > 0.8 and not math.isnan(acc["lps"])
    assert acc["lps"] > acc["kaiming"] - 0.05, acc
