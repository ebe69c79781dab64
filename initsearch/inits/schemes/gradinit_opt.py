"""GradInit's settings (per-architecture defaults, option parsing) and its scale optimiser.

Defaults follow the official launch scripts of zhuchen03/gradinit (commit 777c407), see
shared/notes/init-methods.md section 3. CIFAR rows share: alg "sgd", eta 0.1, gamma 1,
normalised gradient, min scale 0.01, per-scale gradient clip 1, 390 iterations of batch 128;
the scale learning rate depends on the architecture (VGG-19 1e-2 without BN / 1e-1 with BN;
ResNet-110 5e-2 / 1e-3). The IWSLT Transformer uses the Adam variant: eta 1e-3, gamma 1000,
lr 2.5e-3, scales in [0.01, 100], clip 1e8 (off), betas (0.9, 0.98); the reference runs it 780
iterations, here it defaults to 390 like the rest (override with ``iters``). The reference has no
MLP: an MLP takes the VGG rows (a plain feed-forward stack without skips), 1e-2 without BN and
1e-1 with BN.

``ScaleAdam`` is a vectorised re-statement of the reference ``RescaleAdam``: one scalar m_i per
tensor, gradient clipped per scalar to +-grad_clip, separate first moments (and step counts) for
constraint and objective steps, then m_i <- clamp(m_i - lr * m_hat / (sqrt(v_hat) + eps),
floor_i, max_scale). The CIFAR optimiser shares the second moment between both kinds of step
(bias correction over all steps); the fairseq one keeps both moments separate;
``shared_second_moment`` picks which, per family as in the reference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch

from initsearch.errors import ConfigError

ALGS = ("sgd", "adam")


@dataclass(frozen=True)
class GradInitConfig:
    """Every knob of one GradInit run; see the module docstring for where defaults come from."""

    alg: str = "sgd"
    iters: int = 390
    batch_size: int = 128
    lr: float = 1e-2
    eta: float = 0.1
    gamma: float = 1.0
    normalize_grad: bool = True
    min_scale: float = 0.01
    max_scale: float = math.inf
    grad_clip: float = 1.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    shared_second_moment: bool = True
    second_order: bool = False
    progress: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# scale lr per (family, has batch norm); other fields as GradInitConfig's defaults
_CIFAR_LR = {
    ("mlp", False): 1e-2,
    ("mlp", True): 1e-1,
    ("vgg", False): 1e-2,
    ("vgg", True): 1e-1,
    ("resnet", False): 5e-2,
    ("resnet", True): 1e-3,
}
_TRANSFORMER = GradInitConfig(
    alg="adam",
    lr=2.5e-3,
    eta=1e-3,
    gamma=1000.0,
    min_scale=0.01,
    max_scale=100.0,
    grad_clip=1e8,
    beta2=0.98,
    shared_second_moment=False,
)

OPTION_DOCS: dict[str, str] = {
    "base": "init scheme run before GradInit (default kaiming)",
    "alg": "sgd (A[g] = g or g/||g||, p = 2) | adam (A[g] = sign g, p = 1)",
    "iters": "GradInit iterations (default 390)",
    "batch_size": "samples in S, two half-batches (default 128)",
    "lr": "Adam learning rate of the scales (per-architecture default)",
    "eta": "look-ahead step size (0.1 sgd, 1e-3 adam)",
    "gamma": "gradient-norm bound (1 sgd, 1000 adam)",
    "normalize_grad": "sgd variant: step along g/||g|| (default true)",
    "min_scale": "floor of weight scales (0.01; bias scales floor at 0)",
    "max_scale": "ceiling of all scales (inf; transformer 100)",
    "grad_clip": "per-scale gradient clip (1; transformer 1e8)",
    "beta1": "scale-Adam beta1 (0.9)",
    "beta2": "scale-Adam beta2 (0.999; transformer 0.98)",
    "eps": "scale-Adam epsilon (1e-8)",
    "shared_second_moment": "one Adam second moment for both step kinds (CIFAR code) or two",
    "second_order": "also differentiate through A[g] in the look-ahead (reference: false)",
    "progress": "show a progress bar on a terminal (default true)",
}


def family_defaults(family: str, batch_norm: bool) -> GradInitConfig:
    """The reference settings for an architecture family ("mlp", "vgg", "resnet",
    "transformer"); unknown families get the MLP/VGG rows."""
    if family == "transformer":
        return _TRANSFORMER
    return GradInitConfig(lr=_CIFAR_LR.get((family, batch_norm), _CIFAR_LR[("mlp", batch_norm)]))


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.lower() in ("true", "1", "yes")
    raise ConfigError(f"gradinit option {key} must be true or false, got {value!r}")


def _as_number(key: str, value: Any, kind: type) -> float | int:
    try:
        number = kind(float(value)) if kind is int else float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"gradinit option {key} must be a number, got {value!r}") from None
    if kind is int and float(value) != number:
        raise ConfigError(f"gradinit option {key} must be a whole number, got {value!r}")
    return number


def resolve_config(defaults: GradInitConfig, options: dict[str, Any]) -> GradInitConfig:
    """``defaults`` overridden by ``options`` (only GradInitConfig's fields), validated."""
    known = {f.name: f for f in fields(GradInitConfig)}
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown gradinit option(s) {unknown}; known: {', '.join(sorted(known))}"
        )
    changes: dict[str, Any] = {}
    for key, value in options.items():
        default = getattr(defaults, key)
        if isinstance(default, bool):
            changes[key] = _as_bool(key, value)
        elif isinstance(default, int | float):
            changes[key] = _as_number(key, value, type(default))
        else:
            changes[key] = str(value).lower()
    cfg = replace(defaults, **changes)
    _validate(cfg)
    return cfg


def _validate(cfg: GradInitConfig) -> None:
    problems = []
    if cfg.alg not in ALGS:
        problems.append(f"alg must be one of {ALGS}, got {cfg.alg!r}")
    if cfg.iters < 1:
        problems.append(f"iters must be >= 1, got {cfg.iters}")
    if cfg.batch_size < 2:
        problems.append(f"batch_size must be >= 2 (two half-batches), got {cfg.batch_size}")
    for key in ("lr", "eta", "gamma", "max_scale"):
        if not getattr(cfg, key) > 0:
            problems.append(f"{key} must be > 0, got {getattr(cfg, key)}")
    if not 0 <= cfg.min_scale < cfg.max_scale:
        problems.append(f"need 0 <= min_scale < max_scale, got {cfg.min_scale}, {cfg.max_scale}")
    if cfg.grad_clip < 0:
        problems.append(f"grad_clip must be >= 0 (0 = off), got {cfg.grad_clip}")
    if not (0 <= cfg.beta1 < 1 and 0 <= cfg.beta2 < 1):
        problems.append(f"beta1 and beta2 must lie in [0, 1), got {cfg.beta1}, {cfg.beta2}")
    if problems:
        raise ConfigError("invalid gradinit options: " + "; ".join(problems))


class ScaleAdam:
    """Adam on a vector of per-tensor scales with per-scale clipping and floors/ceiling.

    Why not torch.optim.Adam: the reference keeps separate first moments for constraint steps
    (decrease ||g||) and objective steps (decrease the look-ahead loss), so that a run of
    constraint steps does not leave momentum that pushes the objective steps, and it clamps
    after every step.
    """

    def __init__(self, floors: torch.Tensor, cfg: GradInitConfig) -> None:
        self.cfg = cfg
        self.floors = floors
        zeros = torch.zeros_like(floors)
        self.exp_avg = {True: zeros.clone(), False: zeros.clone()}  # keyed by is_constraint
        self.exp_avg_sq = {True: zeros.clone(), False: zeros.clone()}
        self.steps = {True: 0, False: 0}

    @torch.no_grad()
    def step(self, scales: torch.Tensor, grad: torch.Tensor, constraint: bool) -> None:
        """Update ``scales`` in place from d(objective)/d(scales)."""
        cfg = self.cfg
        if cfg.grad_clip > 0:
            grad = grad.clamp(-cfg.grad_clip, cfg.grad_clip)
        self.steps[constraint] += 1
        m = self.exp_avg[constraint]
        m.mul_(cfg.beta1).add_(grad, alpha=1 - cfg.beta1)
        if cfg.shared_second_moment:
            v = self.exp_avg_sq[True]
            v_steps = self.steps[True] + self.steps[False]
        else:
            v = self.exp_avg_sq[constraint]
            v_steps = self.steps[constraint]
        v.mul_(cfg.beta2).addcmul_(grad, grad, value=1 - cfg.beta2)
        m_hat_scale = cfg.lr / (1 - cfg.beta1 ** self.steps[constraint])
        denom = (v / (1 - cfg.beta2**v_steps)).sqrt_().add_(cfg.eps)
        scales.sub_(m_hat_scale * m / denom)
        torch.maximum(scales, self.floors, out=scales)
        scales.clamp_(max=cfg.max_scale)
