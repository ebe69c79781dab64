"""LPS: weights from a random linear-product start system (a RECONSTRUCTION, not the paper's code).

Source: Chen, Hao & He, "Linear Product Structure" initialization, arXiv 2109.00125, Applied
Mathematics and Computation 415 (2022) 126722. Only the abstract and highlights were readable:
the activation is replaced by a polynomial so that training's critical-point equations form a
polynomial system; homotopy continuation can then find all its solutions; the initial weights are
taken from the system's *linear product structure*; a theorem claims a lower probability of dying
ReLU than variance-scaling inits. The paper's algorithm, formulas and numbers were NOT available
and no public code exists. Everything below is our reconstruction; each choice and its reason:

1. Polynomial activation -> linear factors. ReLU is replaced by its L2-best quadratic on [-1, 1],
   ``p(z) = 3/32 + z/2 + 15/32 z^2``. An equation asking unit j to output v on input a,
   ``p(w_j . a) = v``, factors as ``(15/32)(w_j . a - r+)(w_j . a - r-)``: a product of two
   factors *linear in w_j* - the linear product structure of that equation.
2. Start solution = one factor per equation, solved as a linear system. As in homotopy
   continuation's random linear-product start system, each unit's weight vector (its own variable
   group, n = fan-in unknowns) gets n linear equations: ``anchors`` = k factors tied to the
   layer's input (a = an input row - a sample, a token or a convolution patch - drawn at random
   among nonzero rows, per unit; v uniform on (p(0), p(1))) and n - k generic random factors
   ``r . w = 0`` (r standard normal). Generic factors are homogeneous (a start system written in
   homogeneous coordinates), so the anchors alone set the solution's scale and an anchor's
   pre-activation is comparable to the unit's typical one; random affine constants would let the
   generic part outweigh the anchors by ~sqrt(n).
3. Which root (our reading of the dying-ReLU theorem). The quadratic cannot tell the two sides of
   ReLU apart; after a rectifier (relu, gelu) we take the positive root r+, so each unit is active
   on its anchors and cannot be dead on a batch that contains them. After anything else the root's
   sign is random (both are valid start solutions).
4. Exact, cheap sampling. Solving the square system [A; R] w = [t; 0] costs n^3 per unit (too slow
   for wide convolutions); we draw from its solution's exact distribution instead:
   ``w = A+ t + (|A+ t| chi_{n-r} / |xi|) P g / |P g|``, A+ the pseudo-inverse, r = rank(A), P the
   projector onto A's null space, g ~ N(0, I_n), xi ~ N(0, 1) (R restricted to that null space is
   an independent square Gaussian matrix G, |G^-1 e| = 1/|N(0,1)| and its direction is uniform).
   ``tests/test_lps.py`` checks it against the direct solve.
5. Scale. Start solutions have heavy-tailed norms, so each row is normalised to unit length (the
   direction keeps every anchor's sign), then ONE factor per layer makes the signal the layer hands
   on - the output of the first activation module after it, on the probe batch - have second
   moment gain^2 E[x^2] (x = the layer's input): variance-preserving forward, so it trains like a
   variance-scaling init. Closed form when that output scales as s^2 (plain ReLU stacks), else a
   bisection (GELU; a ReLU after a residual sum); Kaiming's row norm when BatchNorm makes the
   scale moot. Linear layers match their own output, E[z^2] = gain^2 E[x^2]; tanh/selu layers
   Kaiming's pre-activation E[z^2] = (torch gain * gain)^2 E[x^2]. In a BN-free residual block
   the branch's last layer is positively biased (item 3), so any scale lifts the sum's energy
   above the target and the fit stops at its lower bound, 1e-3 x Kaiming's norm: the branch starts
   nearly off (as in SkipInit/Fixup) and block outputs keep their RMS (Kaiming's grow).
   Rejected, measured on digits and deep narrow MLPs: a factor per unit (LSUV-like) inflates rows
   nearly orthogonal to a collapsed deep representation and made deep MLPs, VGG and ResNet
   diverge; an extra factor w . mean(x) = 0 (centred units) drops the mean's energy at every
   layer, so the forward signal decays (or, rescaled, gradients explode) with depth.
6. Layer inputs come from a probe batch pushed through the already-initialised layers (forward
   order; a truncated forward pass per layer, plus a few for the scale). "lps" is data-free: the
   probe is standard normal with the data set's input shape (random token ids for sequences; for
   an MLP the shape is read off the model, otherwise give ``input_shape``); data sets here are
   standardised, so this matches their first two moments. "lps_data" anchors on real training
   inputs. The probe runs in train mode (BatchNorm uses batch statistics as in training; running
   statistics are restored afterwards), dropout off, no gradients.
7. Layers other than Linear and ungrouped zero-padded Conv1d/Conv2d (embeddings: one-hot inputs,
   no continuous rows to anchor on) keep Kaiming normal (fan_in, the activation's gain).

Unverified: the polynomial, the choice of root, the number of anchor factors (default 1, the least
that rules out a dead unit; more make rows ill-conditioned once a deep representation collapses
onto a few directions - measured: larger gradients in deep narrow MLPs), real instead of complex
coefficients (weights must be real), the scaling in 5, and whether the paper's theorem concerns
this construction. Measured (tests/test_lps.py): no dead ReLUs where Kaiming normal kills 30-50 %
of the units of deep, narrow MLPs, and comparable short-run accuracy on digits. The price: in
those nets LPS units fire on 80-95 % of inputs (Kaiming's survivors ~50 %), i.e. the net is
closer to linear at init.

All randomness comes from torch's global RNG, so ``torch.manual_seed`` (run_trial calls it) makes
an init reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from initsearch.errors import ConfigError
from initsearch.inits.registry import InitContext, register
from initsearch.inits.schemes.classic import nonlinearity
from initsearch.models.base import ScalableLayer
from initsearch.models.mlp import MLP

RECTIFIERS = ("relu", "gelu")
ACTIVATION_MODULES = (nn.ReLU, nn.GELU, nn.Tanh, nn.SELU)
# L2-best quadratic approximation of ReLU on [-1, 1]: p(z) = P0 + P1 z + P2 z^2
P0, P1, P2 = 3 / 32, 1 / 2, 15 / 32
DEFAULT_ANCHORS = 1
DEFAULT_PROBE = 128
SCALE_RANGE = 1e3  # the bisection searches Kaiming's row norm times [1/SCALE_RANGE, SCALE_RANGE]

_OPTIONS = {
    "anchors": f"anchor (data-tied) linear factors per unit, >= 0, capped at fan-in "
    f"(default {DEFAULT_ANCHORS}; 0 = random directions, an ablation)",
    "gain": "multiplies the target RMS of the signal each layer hands on (default 1)",
    "probe_size": f"probe batch size (default {DEFAULT_PROBE})",
}


# ----------------------------------------------------------------- linear-product start system


def quadratic_relu(z: torch.Tensor) -> torch.Tensor:
    """The polynomial standing in for ReLU in the linear-product structure."""
    return P0 + P1 * z + P2 * z * z


def relu_roots(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Roots (r+, r-) of p(z) = v, i.e. the two linear factors of p(w . a) - v; v > p(0)."""
    disc = torch.sqrt(P1 * P1 - 4 * P2 * (P0 - v))
    return (-P1 + disc) / (2 * P2), (-P1 - disc) / (2 * P2)


def anchor_targets(shape: tuple[int, ...], rectified: bool) -> torch.Tensor:
    """Right-hand sides of the anchor factors: r+ after a rectifier, else +-r+ at random."""
    v = P0 + (quadratic_relu(torch.ones(())) - P0) * torch.rand(shape, dtype=torch.float64)
    t = relu_roots(v)[0]
    if rectified:
        return t
    return torch.where(torch.rand(shape, dtype=torch.float64) < 0.5, t, -t)


def start_solutions(anchors: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sample, per unit, the solution of [A; R] w = [t; 0] with R a fresh Gaussian matrix.

    ``anchors`` (m, k, n) holds each unit's anchor rows A, ``targets`` (m, k) its t; returns
    (m, n) float64. Exact in distribution (module docstring, item 4), no n x n solve.
    """
    m, _, n = anchors.shape
    u, s, vh = torch.linalg.svd(anchors, full_matrices=False)
    keep = s > s[:, :1] * 1e-10 * max(anchors.shape[1:])  # numerical rank per unit
    inv_s = torch.where(keep, 1.0 / s.clamp_min(1e-300), torch.zeros_like(s))
    w_p = torch.einsum("mr,mrn->mn", inv_s * torch.einsum("mkr,mk->mr", u, targets), vh)
    basis = vh * keep.unsqueeze(-1)
    g = torch.randn(m, n, dtype=torch.float64)
    null = g - torch.einsum("mr,mrn->mn", torch.einsum("mrn,mn->mr", basis, g), basis)
    free = n - keep.sum(dim=1)  # generic factors left once the anchors fix rank(A) directions
    mask = torch.arange(n).unsqueeze(0) < free.unsqueeze(1)
    chi = ((torch.randn(m, n, dtype=torch.float64) ** 2) * mask).sum(dim=1).sqrt()
    xi = torch.randn(m, dtype=torch.float64).abs().clamp_min(1e-12)
    size = w_p.norm(dim=1) * chi / xi
    return w_p + (size / null.norm(dim=1).clamp_min(1e-300)).unsqueeze(1) * null


# ------------------------------------------------------------------------------ anchor rows


class _Captured(Exception):
    """Raised by a hook to stop the forward pass once the tensor it wants is known."""


class _NoAnchors(Exception):
    """The layer's probe input is all zero: nothing to anchor on."""


def capture_input(model: nn.Module, module: nn.Module, probe: torch.Tensor) -> torch.Tensor:
    """The input ``module`` sees when ``model`` runs on ``probe`` (forward stops there)."""
    store: list[torch.Tensor] = []

    def hook(_mod: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        store.append(args[0].detach())
        raise _Captured

    handle = module.register_forward_pre_hook(hook)
    try:
        model(probe)
    except _Captured:
        pass
    finally:
        handle.remove()
    if not store:
        raise RuntimeError("a scalable layer was not reached by the forward pass")
    return store[0]


def linear_anchor_rows(x: torch.Tensor, count: int) -> torch.Tensor:
    rows = x.reshape(-1, x.shape[-1]).cpu()
    live = torch.nonzero(rows.abs().sum(dim=1) > 0).squeeze(1)
    if len(live) == 0:
        raise _NoAnchors
    return rows[live[torch.randint(len(live), (count,))]]


def conv_anchor_rows(conv: nn.Conv1d | nn.Conv2d, x: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` random nonzero input patches of ``conv``, flattened like its weight rows."""
    x2 = x if x.dim() == 4 else x.unsqueeze(2)  # Conv1d as a height-1 Conv2d
    pair = (lambda v: tuple(v)) if isinstance(conv, nn.Conv2d) else (lambda v: (1, v[0]))
    (kh, kw), (sh, sw), (dh, dw) = pair(conv.kernel_size), pair(conv.stride), pair(conv.dilation)
    pad = conv.padding  # int tuple: _supported excludes string paddings
    ph, pw = tuple(pad) if isinstance(conv, nn.Conv2d) else (0, pad[0])  # type: ignore[index]
    ones = torch.ones(1, x2.shape[1], kh, kw, device=x.device, dtype=x.dtype)
    sq = F.conv2d(x2 * x2, ones, stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw))
    _, _, ho, wo = sq.shape
    live = torch.nonzero(sq.flatten() > 0).squeeze(1).cpu()
    if len(live) == 0:
        raise _NoAnchors
    pick = live[torch.randint(len(live), (count,))]
    b, oi, oj = pick // (ho * wo), (pick % (ho * wo)) // wo, pick % wo
    xp = F.pad(x2, (pw, pw, ph, ph)).cpu()
    rows_i = (oi * sh).unsqueeze(1) + dh * torch.arange(kh)
    cols_j = (oj * sw).unsqueeze(1) + dw * torch.arange(kw)
    patches = xp[
        b[:, None, None, None],
        torch.arange(x2.shape[1])[None, :, None, None],
        rows_i[:, None, :, None],
        cols_j[:, None, None, :],
    ]
    return patches.reshape(count, -1)


def _supported(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    if isinstance(module, nn.Conv1d | nn.Conv2d):
        return (
            module.groups == 1
            and module.padding_mode == "zeros"
            and not isinstance(module.padding, str)
        )
    return False


# ------------------------------------------------------------------------------------ scale


def handed_on_moment(model: nn.Module, layer: ScalableLayer, probe: torch.Tensor) -> float:
    """Second moment of the signal ``layer`` hands on: after a rectifier, the output of the
    first activation module that runs after it (its own, or one after a residual sum); else
    (or when no activation module follows) the layer's own output."""
    seen: list[bool] = []
    out: list[torch.Tensor] = []
    rectified = layer.activation in RECTIFIERS

    def after_layer(_m: nn.Module, _i: object, o: torch.Tensor) -> None:
        seen.append(True)
        out.append(F.relu(o) if rectified else o)  # fallback if no activation module follows
        if not rectified:
            raise _Captured

    def after_activation(_m: nn.Module, _i: object, o: torch.Tensor) -> None:
        if seen:
            out.append(o)
            raise _Captured

    handles = [layer.module.register_forward_hook(after_layer)]
    if rectified:
        handles += [
            m.register_forward_hook(after_activation)
            for m in model.modules()
            if isinstance(m, ACTIVATION_MODULES)
        ]
    try:
        model(probe)
    except _Captured:
        pass
    finally:
        for h in handles:
            h.remove()
    if not out:
        raise RuntimeError(f"layer {layer.name} was not reached by the forward pass")
    return float(out[-1].double().pow(2).mean())


def fit_scale(
    model: nn.Module, layer: ScalableLayer, probe: torch.Tensor, rows: torch.Tensor, target: float
) -> float:
    """The s for weight = s * rows whose handed-on second moment is ``target`` (item 5)."""
    s0 = nn.init.calculate_gain(nonlinearity(layer))  # Kaiming's expected row norm

    def moment(s: float) -> float:
        layer.weight.copy_(rows * s)
        return handed_on_moment(model, layer, probe)

    m1, m2 = moment(s0), moment(2 * s0)
    if m1 <= 0 or abs(m2 / m1 - 1) < 1e-3:  # dead, or normalised downstream: scale is moot
        return s0
    if abs(m2 / m1 - 4) < 4e-3:  # positively homogeneous path: closed form
        return s0 * math.sqrt(target / m1)
    lo, hi = math.log(s0 / SCALE_RANGE), math.log(s0 * SCALE_RANGE)
    if moment(math.exp(lo)) >= target:
        return math.exp(lo)
    if moment(math.exp(hi)) <= target:
        return math.exp(hi)
    for _ in range(12):  # log-interval 13.8 -> 0.3 % precision
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if moment(math.exp(mid)) < target else (lo, mid)
    return math.exp((lo + hi) / 2)


def init_layer(
    model: nn.Module, layer: ScalableLayer, probe: torch.Tensor, anchors: int, gain: float
) -> None:
    """Set ``layer.weight`` to scaled linear-product start solutions (module docstring)."""
    module, weight = layer.module, layer.weight
    x = capture_input(model, module, probe)
    units, fan_in = weight.shape[0], weight[0].numel()
    q_in = float((x.double() ** 2).mean())
    if q_in == 0.0:
        return  # all-zero input: keep the Kaiming fallback already in place
    k = min(anchors, fan_in)
    rectified = layer.activation in RECTIFIERS
    if k > 0:
        try:
            if isinstance(module, nn.Linear):
                found = linear_anchor_rows(x, units * k)
            else:
                found = conv_anchor_rows(module, x, units * k)  # type: ignore[arg-type]
        except _NoAnchors:
            return
        a = found.double().reshape(units, k, fan_in) / math.sqrt(q_in)
        w = start_solutions(a, anchor_targets((units, k), rectified))
    else:  # no anchor factors: the start solution's direction is uniformly random
        w = torch.randn(units, fan_in, dtype=torch.float64)
    rows = (w / w.norm(dim=1, keepdim=True)).reshape(weight.shape).to(weight)
    base = 1.0 if rectified else nn.init.calculate_gain(nonlinearity(layer))
    weight.copy_(rows * fit_scale(model, layer, probe, rows, (base * gain) ** 2 * q_in))


# ------------------------------------------------------------------------------ the schemes


def _probe_from_model(model: nn.Module, size: int, device: torch.device) -> torch.Tensor:
    """Data-free probe without a data set: only MLPs reveal their input shape."""
    if isinstance(model, MLP):
        if model.embed is not None:
            return torch.randint(model.embed.num_embeddings, (size, 16), device=device)
        return torch.randn(size, model.hidden[0].in_features, device=device)
    raise ConfigError(
        f"init scheme lps cannot infer the input shape of a {type(model).__name__}; pass the "
        "data set to apply() or set init option input_shape (e.g. [3, 32, 32])"
    )


def make_probe(ctx: InitContext, size: int, from_data: bool) -> torch.Tensor:
    """Probe batch: training inputs (lps_data) or standard normal / random tokens (lps)."""
    device, dtype = ctx.layers[0].weight.device, ctx.layers[0].weight.dtype
    data = ctx.data
    if from_data:
        assert data is not None
        idx = torch.randperm(len(data.x_train))[:size].to(data.x_train.device)
        return data.x_train[idx].to(device)
    shape = ctx.option("input_shape")
    if shape is not None:
        if not (
            isinstance(shape, list | tuple) and all(isinstance(s, int) and s > 0 for s in shape)
        ):
            raise ConfigError(f"init option input_shape must be a list of ints, got {shape!r}")
        return torch.randn(size, *shape, device=device, dtype=dtype)
    if data is None:
        return _probe_from_model(ctx.model, size, device)
    if data.kind == "sequence":
        assert data.vocab_size is not None
        return torch.randint(data.vocab_size, (size, *data.input_shape), device=device)
    return torch.randn(size, *data.input_shape, device=device, dtype=dtype)


def _int_option(ctx: InitContext, key: str, default: int, low: int) -> int:
    value = ctx.option(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ConfigError(f"init option {key} must be an integer >= {low}, got {value!r}")
    return value


def _run(ctx: InitContext, from_data: bool) -> Sequence[float] | None:
    anchors = _int_option(ctx, "anchors", DEFAULT_ANCHORS, 0)
    size = _int_option(ctx, "probe_size", DEFAULT_PROBE, 1)
    gain = ctx.option("gain", 1.0)
    if not isinstance(gain, int | float) or isinstance(gain, bool) or not gain > 0:
        raise ConfigError(f"init option gain must be a positive number, got {gain!r}")
    model = ctx.model
    modes = {m: m.training for m in model.modules()}
    buffers = [(b, b.clone()) for b in model.buffers()]
    try:
        with torch.no_grad():
            for layer in ctx.layers:  # sane values everywhere before the first probe
                nn.init.kaiming_normal_(layer.weight, nonlinearity=nonlinearity(layer))
            probe = make_probe(ctx, size, from_data)
            model.train()
            for m in model.modules():
                if isinstance(m, nn.Dropout | nn.AlphaDropout):
                    m.eval()
            for layer in ctx.layers:
                if _supported(layer.module):
                    init_layer(model, layer, probe, anchors, float(gain))
    finally:
        with torch.no_grad():
            for buf, saved in buffers:
                buf.copy_(saved)
        for m, mode in modes.items():
            m.training = mode
    return None


@register(
    "lps",
    "LPS (reconstruction): rows = random linear-product start solutions, each ReLU unit active "
    "on a random anchor input of a Gaussian probe; layers scaled to preserve the signal",
    options={**_OPTIONS, "input_shape": "probe shape when no data set is given (non-MLP models)"},
    profile=True,
)
def lps(ctx: InitContext) -> Sequence[float] | None:
    return _run(ctx, from_data=False)


@register(
    "lps_data",
    "LPS (reconstruction) anchored and scaled on real training inputs instead of a Gaussian probe",
    needs_data=True,
    options=_OPTIONS,
    profile=True,
)
def lps_data(ctx: InitContext) -> Sequence[float] | None:
    return _run(ctx, from_data=True)
