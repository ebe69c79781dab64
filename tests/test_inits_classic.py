"""Classic schemes through ``initsearch.inits.apply`` behave like ``torch.nn.init`` on real models.

Statistical checks use a tolerance computed from the sampling error of the estimate, not a
guessed constant: for n iid weights with variance s2 and kurtosis k, the sample variance has
standard error s2 * sqrt((k - 1) / n), and the sample kurtosis one from the family's moments
(delta method, see ``kurtosis_se``). Every check allows Z = 6 standard errors, so with the fixed
seeds a correct implementation passes for sure and a wrong gain (at least a factor 9/8 in
variance on the large layers) fails. The zero init and SELU tests check behaviour, not numbers:
zero init cannot break symmetry, and SELU + LeCun normal keeps activations at mean 0, std 1.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initsearch.data import load_dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, apply
from initsearch.models import DataShape, ModelSpec, ScalableModel, build_model

Z = 6.0  # tolerance in standard errors
VECTOR = DataShape((40,), "vector", 10)  # MNIST-1D shaped
IMAGE = DataShape((3, 16, 16), "image", 10)
# Squared gains by the activation after a layer, written out from the papers / torch docs
# (not read from torch): He et al. 2015 relu 2, torch tanh (5/3)^2, torch selu (3/4)^2, GELU
# counted as ReLU (documented in initsearch/inits/classic.py), linear 1.
GAIN2 = {"relu": 2.0, "tanh": 25.0 / 9.0, "selu": 9.0 / 16.0, "gelu": 2.0, "linear": 1.0}
# Standardised moments (mu2, mu4, mu6, mu8) of the two weight families.
NORMAL_MOMENTS = (1.0, 3.0, 15.0, 105.0)
UNIFORM_MOMENTS = (1.0, 9.0 / 5.0, 27.0 / 7.0, 9.0)
NORMAL_FAMILY = ("kaiming", "kaiming_normal", "xavier_normal", "lecun_normal", "normal")
UNIFORM_FAMILY = ("kaiming_uniform", "xavier", "xavier_uniform", "uniform")
SCHEME_OPTIONS = {"normal": {"std": 0.1}, "uniform": {"a": 0.2}}


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a small shared CPU, torch's thread pool makes these small
    matmuls ~10x slower (measured), and results do not depend on it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def mlp(activation: str = "relu", depth: int = 2, width: int = 256, **kw) -> ScalableModel:
    return build_model(
        ModelSpec("mlp", depth=depth, width=width, activation=activation, **kw), VECTOR
    )


def convnet(activation: str = "relu", width: int = 16, **kw) -> ScalableModel:
    spec = ModelSpec("vgg", depth=11, width=width, activation=activation, **kw)
    return build_model(spec, IMAGE)


def init(model: ScalableModel, scheme: str, seed: int = 0, **options) -> ScalableModel:
    torch.manual_seed(seed)
    apply(model, InitSpec(scheme, options={**SCHEME_OPTIONS.get(scheme, {}), **options}))
    return model


def fans(weight: torch.Tensor) -> tuple[int, int]:
    receptive = math.prod(weight.shape[2:])
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def expected_var(scheme: str, weight: torch.Tensor, gain2: float, mode: str = "fan_in") -> float:
    """The variance each scheme promises, from its formula (torch.nn.init docs)."""
    fan_in, fan_out = fans(weight)
    if scheme in ("kaiming", "kaiming_normal", "kaiming_uniform"):
        return gain2 / (fan_in if mode == "fan_in" else fan_out)
    if scheme in ("xavier", "xavier_uniform", "xavier_normal"):
        return gain2 * 2.0 / (fan_in + fan_out)
    if scheme == "lecun_normal":
        return 1.0 / fan_in
    if scheme == "normal":
        return SCHEME_OPTIONS["normal"]["std"] ** 2
    if scheme == "uniform":
        return SCHEME_OPTIONS["uniform"]["a"] ** 2 / 3.0
    raise AssertionError(scheme)


def torch_reference(scheme: str, t: torch.Tensor, gain: float) -> None:
    """torch.nn.init's version of ``scheme`` with an explicit gain, written independently."""
    if scheme in ("kaiming", "kaiming_normal"):
        nn.init.kaiming_normal_(t, nonlinearity="linear").mul_(gain)
    elif scheme == "kaiming_uniform":
        nn.init.kaiming_uniform_(t, nonlinearity="linear").mul_(gain)
    elif scheme in ("xavier", "xavier_uniform"):
        nn.init.xavier_uniform_(t, gain=gain)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(t, gain=gain)
    elif scheme == "lecun_normal":
        nn.init.kaiming_normal_(t, nonlinearity="linear")
    elif scheme == "normal":
        nn.init.normal_(t, 0.0, SCHEME_OPTIONS["normal"]["std"])
    else:
        bound = SCHEME_OPTIONS["uniform"]["a"]
        nn.init.uniform_(t, -bound, bound)


def kurtosis_of(w: torch.Tensor) -> float:
    x = w.detach().double().flatten()
    x = x - x.mean()
    return float((x**4).mean() / (x**2).mean() ** 2)


def kurtosis_se(moments: tuple[float, float, float, float], n: int) -> float:
    """Standard error of m4/m2^2 for a symmetric family (delta method); normal: sqrt(24/n)."""
    m2, m4, m6, m8 = moments
    n_var = (
        (m8 - m4**2) / m2**4 - 4 * m4 * (m6 - m2 * m4) / m2**5 + 4 * m4**2 * (m4 - m2**2) / m2**6
    )
    return math.sqrt(n_var / n)


def assert_variance(w: torch.Tensor, expected: float, kurtosis: float, what: str) -> None:
    n = w.numel()
    var = float(w.detach().double().var())
    se = expected * math.sqrt((kurtosis - 1.0) / n)
    assert abs(var - expected) <= Z * se, (
        f"{what}: var {var:.4g}, expected {expected:.4g} ± {Z * se:.2g}"
    )


def family_kurtosis(scheme: str) -> float:
    return 3.0 if scheme in NORMAL_FAMILY else 1.8


def activation_after(model: ScalableModel) -> dict[str, str]:
    return {layer.name: layer.activation for layer in model.scalable_layers()}


@pytest.mark.parametrize("activation", ["relu", "tanh", "selu", "gelu"])
@pytest.mark.parametrize("scheme", NORMAL_FAMILY + UNIFORM_FAMILY)
def test_variance_matches_formula_and_torch_reference(scheme, activation):
    """Each layer's variance equals the formula, and torch.nn.init's on a same-shape tensor."""
    model = init(mlp(activation), scheme, seed=1)
    kurt = family_kurtosis(scheme)
    for layer in model.scalable_layers():
        w = layer.weight
        expected = expected_var(scheme, w, GAIN2[layer.activation])
        assert_variance(w, expected, kurt, f"{scheme}/{activation}/{layer.name}")
        # torch's own init of a tensor of the same shape, on another seed
        torch.manual_seed(99)
        ref = torch.empty_like(w)
        gain = math.sqrt(GAIN2[layer.activation])
        torch_reference(scheme, ref, gain)
        var, ref_var = float(w.detach().double().var()), float(ref.double().var())
        se_diff = expected * math.sqrt(2 * (kurt - 1.0) / w.numel())
        assert abs(var - ref_var) <= Z * se_diff, (scheme, layer.name, var, ref_var)


@pytest.mark.parametrize("scheme", NORMAL_FAMILY + UNIFORM_FAMILY)
def test_conv_net_variance(scheme):
    """Convolutions: fan = channels x kernel size, as in torch."""
    model = init(convnet("relu"), scheme, seed=2)
    kurt = family_kurtosis(scheme)
    for layer in model.scalable_layers():
        expected = expected_var(scheme, layer.weight, GAIN2[layer.activation])
        assert_variance(layer.weight, expected, kurt, f"{scheme}/{layer.name}")


@pytest.mark.parametrize("scheme", NORMAL_FAMILY + UNIFORM_FAMILY + ("orthogonal",))
@pytest.mark.parametrize("make", [mlp, convnet], ids=["mlp", "conv"])
def test_same_seed_reproduces_torch_exactly(scheme, make):
    """Delegation to torch.nn.init: same seed, same layer order -> the very same tensors."""
    model = init(make("tanh"), scheme, seed=3)
    opts = SCHEME_OPTIONS.get(scheme, {})
    torch.manual_seed(3)
    for layer in model.scalable_layers():
        ref = torch.empty_like(layer.weight)
        act = "linear" if layer.activation == "linear" else "tanh"
        gain = nn.init.calculate_gain(act)
        if scheme in ("kaiming", "kaiming_normal"):
            nn.init.kaiming_normal_(ref, nonlinearity=act)
        elif scheme == "kaiming_uniform":
            nn.init.kaiming_uniform_(ref, nonlinearity=act)
        elif scheme in ("xavier", "xavier_uniform"):
            nn.init.xavier_uniform_(ref, gain=gain)
        elif scheme == "xavier_normal":
            nn.init.xavier_normal_(ref, gain=gain)
        elif scheme == "lecun_normal":
            nn.init.kaiming_normal_(ref, nonlinearity="linear")
        elif scheme == "orthogonal":
            nn.init.orthogonal_(ref, gain=gain)
        elif scheme == "normal":
            nn.init.normal_(ref, 0.0, opts["std"])
        else:
            nn.init.uniform_(ref, -opts["a"], opts["a"])
        assert torch.equal(layer.weight, ref), (scheme, layer.name)


@pytest.mark.parametrize("scheme", NORMAL_FAMILY)
def test_normal_family_has_gaussian_kurtosis(scheme):
    model = init(mlp("relu", width=512), scheme, seed=4)
    w = model.hidden[1].weight  # 512 x 512
    se = kurtosis_se(NORMAL_MOMENTS, w.numel())
    assert abs(kurtosis_of(w) - 3.0) <= Z * se
    assert math.isclose(kurtosis_se(NORMAL_MOMENTS, 1), math.sqrt(24.0))  # the textbook value


@pytest.mark.parametrize("scheme", UNIFORM_FAMILY)
def test_uniform_family_respects_its_bound(scheme):
    model = init(mlp("relu", width=512), scheme, seed=5)
    for layer in model.scalable_layers():
        w = layer.weight.detach()
        fan_in, fan_out = fans(w)
        gain = math.sqrt(GAIN2[layer.activation])
        bound = {
            "kaiming_uniform": gain * math.sqrt(3.0 / fan_in),
            "xavier": gain * math.sqrt(6.0 / (fan_in + fan_out)),
            "xavier_uniform": gain * math.sqrt(6.0 / (fan_in + fan_out)),
            "uniform": SCHEME_OPTIONS["uniform"]["a"],
        }[scheme]
        peak = float(w.abs().max())
        n = w.numel()
        assert peak <= bound * (1 + 1e-6)
        # the largest of n uniform draws lies within bound * 10/n of the bound (P > 1 - e^-10)
        assert peak >= bound * (1 - 10.0 / n), (layer.name, peak, bound)
        if n >= 10_000:
            se = kurtosis_se(UNIFORM_MOMENTS, n)
            assert abs(kurtosis_of(w) - 1.8) <= Z * se, (layer.name, kurtosis_of(w))


@pytest.mark.parametrize("activation", ["relu", "tanh", "selu", "gelu"])
def test_gain_follows_activation(activation):
    """var * fan_in = gain^2 of the layer's activation; the head (linear) has gain 1."""
    for model in (mlp(activation), convnet(activation)):
        init(model, "kaiming", seed=6)
        acts = activation_after(model)
        for layer in model.scalable_layers():
            expected = GAIN2[activation] if layer.name != "head" else 1.0
            assert acts[layer.name] == (activation if layer.name != "head" else "linear")
            fan_in, _ = fans(layer.weight)
            assert_variance(layer.weight, expected / fan_in, 3.0, f"{activation}/{layer.name}")


def test_fan_out_mode():
    model = init(mlp("relu"), "kaiming_uniform", seed=7, mode="fan_out")
    first = model.hidden[0].weight  # 256 x 40: fan_in 40, fan_out 256
    fan_in, fan_out = fans(first)
    assert_variance(first, 2.0 / fan_out, 1.8, "fan_out")
    assert float(first.detach().var()) < 0.5 * 2.0 / fan_in  # and clearly not fan_in's variance
    head = model.head.weight  # 10 x 256
    assert_variance(head, 1.0 / fans(head)[1], 1.8, "head fan_out")


def test_vgg_reference_is_gradinits_vgg_init():
    """zhuchen03/gradinit's VGG: convs N(0, 2 / fan_out), Linear N(0, 0.01^2), biases zero;
    the very tensors its own init loop draws on the same seed."""
    model = init(convnet("relu", width=16), "vgg_reference", seed=4)
    for layer in model.scalable_layers():
        if isinstance(layer.module, nn.Linear):
            assert_variance(layer.weight, 0.01**2, 3.0, f"head {layer.name}")
        else:
            assert_variance(layer.weight, 2.0 / fans(layer.weight)[1], 3.0, layer.name)
        assert layer.bias is None or not layer.bias.any()
    torch.manual_seed(4)
    for layer in model.scalable_layers():  # the reference's _initialize_weights, in order
        ref = torch.empty_like(layer.weight)
        if isinstance(layer.module, nn.Conv2d):
            nn.init.kaiming_normal_(ref, mode="fan_out", nonlinearity="relu")
        else:
            nn.init.normal_(ref, 0, 0.01)
        assert torch.equal(layer.weight, ref), layer.name


def test_vgg_reference_falls_back_to_kaiming_fan_in_for_embeddings():
    tokens = DataShape((32,), "sequence", 4, vocab_size=500)
    model = build_model(ModelSpec("vgg", depth=11, width=16), tokens)
    init(model, "vgg_reference", seed=5)
    embedding = model.scalable_layers()[0]
    assert isinstance(embedding.module, nn.Embedding)
    fan_in, _ = fans(embedding.weight)
    expected = GAIN2[embedding.activation] / fan_in
    assert_variance(embedding.weight, expected, 3.0, "embedding")


@pytest.mark.parametrize(
    ("scheme", "gain"), [("kaiming", 0.5), ("xavier_normal", 3.0), ("kaiming_uniform", 1.2)]
)
def test_gain_option_overrides_every_layer(scheme, gain):
    model = init(mlp("tanh"), scheme, seed=8, gain=gain)
    kurt = family_kurtosis(scheme)
    for layer in model.scalable_layers():
        assert_variance(layer.weight, expected_var(scheme, layer.weight, gain**2), kurt, layer.name)


@pytest.mark.parametrize("activation", ["relu", "tanh", "gain-option"])
def test_orthogonal_rows_or_columns_are_orthonormal_times_gain(activation):
    """W W^T = gain^2 I for wide-short W (W^T W for tall ones), convs flattened per filter."""
    gain_option = {"gain": 0.7} if activation == "gain-option" else {}
    act = "relu" if activation == "gain-option" else activation
    for model in (mlp(act), convnet(act, width=8)):  # width 8: QR of big convs is slow on CPU
        init(model, "orthogonal", seed=9, **gain_option)
        for layer in model.scalable_layers():
            w = layer.weight.detach().double().flatten(1)
            gain2 = gain_option["gain"] ** 2 if gain_option else GAIN2[layer.activation]
            gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
            eye = torch.eye(gram.shape[0], dtype=torch.float64)
            assert torch.allclose(gram, gain2 * eye, atol=1e-5 * gain2), layer.name


def test_biases_zeroed_and_norm_layers_reset():
    for model in (mlp("relu", batch_norm=True), mlp("relu"), convnet("relu", batch_norm=True)):
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                    module.weight.uniform_(0.1, 3.0)
                    module.bias.uniform_(-1.0, 1.0)
        biases = [p.detach() for n, p in model.named_parameters() if n.endswith("bias")]
        assert any(float(b.abs().sum()) > 0 for b in biases)  # something to reset
        init(model, "xavier_normal", seed=10)
        for name, module in model.named_modules():
            if isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
                assert torch.equal(module.weight, torch.ones_like(module.weight)), name
                assert torch.equal(module.bias, torch.zeros_like(module.bias)), name
            elif isinstance(module, nn.Linear | nn.Conv2d) and module.bias is not None:
                assert torch.equal(module.bias, torch.zeros_like(module.bias)), name


def test_user_scales_multiply_on_top_and_are_reported():
    scales = (0.5, 2.0, 3.0)
    base = mlp("relu")
    scaled = mlp("relu")
    torch.manual_seed(11)
    base_report = apply(base, InitSpec("kaiming"))
    torch.manual_seed(11)
    report = apply(scaled, InitSpec("kaiming", scales=scales))
    assert base_report.applied_scales == [1.0, 1.0, 1.0]
    assert report.applied_scales == list(scales)
    assert report.layer_names == ["hidden.0", "hidden.1", "head"]
    for a, b, s in zip(base.scalable_layers(), scaled.scalable_layers(), scales, strict=True):
        assert torch.allclose(b.weight, a.weight * s, rtol=1e-6, atol=0)


def test_wrong_scale_length_names_the_fix():
    with pytest.raises(ConfigError, match="give exactly 3"):
        apply(mlp("relu"), InitSpec("kaiming", scales=(1.0, 1.0)))


def test_unknown_scheme_names_the_choices():
    with pytest.raises(ConfigError) as err:
        apply(mlp("relu"), InitSpec("he_magic"))
    assert "he_magic" in str(err.value)
    assert "kaiming" in str(err.value) and "inits list" in str(err.value)


@pytest.mark.parametrize(
    ("scheme", "options", "needle"),
    [
        ("kaiming", {"gain": -1.0}, "gain"),
        ("kaiming", {"gain": True}, "gain"),
        ("xavier", {"gain": float("nan")}, "gain"),
        ("kaiming", {"mode": "sideways"}, "fan_out"),
        ("normal", {"std": "wide"}, "std"),
        ("uniform", {"a": 0}, "a must be a positive number"),
    ],
)
def test_bad_options_fail_before_touching_weights(scheme, options, needle):
    model = mlp("relu")
    before = [layer.weight.detach().clone() for layer in model.scalable_layers()]
    with pytest.raises(ConfigError, match=needle):
        apply(model, InitSpec(scheme, options=options))
    for w, layer in zip(before, model.scalable_layers(), strict=True):
        assert torch.equal(w, layer.weight)


# ---------------------------------------------------------------- zero init: negative control


@pytest.fixture(scope="module")
def mnist1d():
    return load_dataset("mnist1d")


def train_steps(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> list[dict]:
    """Plain SGD (written out: torch.optim's first use costs seconds of imports); records the
    loss and each hidden layer's weight-gradient norm per step."""
    history = []
    for _ in range(steps):
        model.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        grads = [float(layer.weight.grad.norm()) for layer in model.hidden]
        history.append({"loss": float(loss.detach()), "hidden_grads": grads})
        with torch.no_grad():
            for param in model.parameters():
                param -= 0.1 * param.grad
    return history


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_zero_init_cannot_break_symmetry(mnist1d, activation):
    x, y = mnist1d.x_train[:256], mnist1d.y_train[:256]
    results = {}
    for scheme in ("zero", "kaiming"):
        model = init(mlp(activation, depth=2, width=32), scheme, seed=12)
        history = train_steps(model, x, y, steps=5)
        results[scheme] = (model, history)

    zero_model, zero_hist = results["zero"]
    for step in zero_hist:
        assert all(g == 0.0 for g in step["hidden_grads"])  # no signal reaches hidden layers
    for linear in zero_model.hidden:
        w = linear.weight.detach()
        assert torch.equal(w, w[:1].expand_as(w))  # every hidden unit is the same unit
        assert torch.equal(linear.bias, linear.bias[:1].expand_as(linear.bias))
    # only the head's bias learns: the net can at best predict the batch's label frequencies
    prior = torch.bincount(y, minlength=10).double() / len(y)
    prior_entropy = float(-(prior[prior > 0] * prior[prior > 0].log()).sum())
    assert zero_hist[-1]["loss"] >= prior_entropy - 1e-4

    kaiming_model, kaiming_hist = results["kaiming"]
    assert all(g > 0 for step in kaiming_hist for g in step["hidden_grads"])
    for linear in kaiming_model.hidden:
        w = linear.weight.detach()
        distances = torch.cdist(w, w) + torch.eye(len(w)) * 1e9
        assert float(distances.min()) > 1e-3  # hidden units differ pairwise
    assert kaiming_hist[-1]["loss"] < zero_hist[-1]["loss"]


# ------------------------------------------------------ SELU self-normalising (Klambauer 2017)


def layer_moments(model: ScalableModel, x: torch.Tensor) -> list[tuple[float, float]]:
    """(mean, std) over batch and units of every hidden activation's output."""
    stats: list[tuple[float, float]] = []
    hooks = [
        act.register_forward_hook(
            lambda m, i, out: stats.append((float(out.mean()), float(out.std())))
        )
        for act in model.acts
    ]
    with torch.no_grad():
        model(x)
    for hook in hooks:
        hook.remove()
    return stats


@pytest.fixture(scope="module")
def standardised(mnist1d):
    x = mnist1d.x_train
    return ((x - x.mean(0)) / x.std(0))[:512]


# Finite width 256 and batch 512 make each layer's std fluctuate by a few percent (measured
# max deviation 0.03 over seeds 0-2 at depth 16); 0.1 is the band "self-normalised" must hold.
SNN_TOL = 0.1


@pytest.mark.parametrize("seed", [0, 1])
def test_selu_lecun_keeps_mean_zero_std_one_through_depth_16(standardised, seed):
    model = init(mlp("selu", depth=16, width=256), "lecun_normal", seed=seed)
    stats = layer_moments(model, standardised)
    assert len(stats) == 16
    for depth, (mean, std) in enumerate(stats):
        assert abs(mean) < SNN_TOL and abs(std - 1.0) < SNN_TOL, (depth, mean, std)


def test_selu_fixed_point_attracts_badly_scaled_inputs(standardised):
    """Inputs with std 2 start the net far from (0, 1); depth pulls them back (the attractor)."""
    model = init(mlp("selu", depth=16, width=256), "lecun_normal", seed=0)
    stats = layer_moments(model, 2.0 * standardised)
    first_dev = abs(stats[0][1] - 1.0)
    last_mean, last_std = stats[-1]
    assert first_dev > 3 * SNN_TOL
    assert abs(last_std - 1.0) < SNN_TOL and abs(last_mean) < SNN_TOL


@pytest.mark.parametrize(
    ("activation", "scheme", "scale"),
    [
        ("selu", "kaiming", None),  # torch's SELU gain 3/4: variance shrinks layer by layer
        ("selu", "lecun_normal", 0.8),  # LeCun but every layer scaled down
        ("selu", "lecun_normal", 1.2),  # LeCun but every layer scaled up
        ("tanh", "kaiming", None),  # tanh: no (0, 1) fixed point at all
    ],
)
def test_without_selu_and_lecun_the_moments_drift(standardised, activation, scheme, scale):
    model = mlp(activation, depth=16, width=256)
    scales = None if scale is None else (scale,) * model.num_scalable()
    torch.manual_seed(0)
    apply(model, InitSpec(scheme, scales=scales))
    stats = layer_moments(model, standardised)
    mean, std = stats[-1]
    assert abs(std - 1.0) > 2.5 * SNN_TOL or abs(mean) > 2.5 * SNN_TOL, (mean, std)
