"""Apply an init spec: reset biases and norm layers, run the scheme, then per-layer scales."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits.measurement.diagnostics import compute_diagnostics, diagnostics_options
from initsearch.inits.registry import InitContext, get_scheme
from initsearch.inits.spec import InitSpec
from initsearch.models.base import ScalableModel

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm)


@dataclass
class InitReport:
    """What an init did: scheme, the per-layer factors it applied, at-init diagnostics.

    ``applied_scales`` is the scheme's own factor vector (emergence rule, GradInit; all ones
    for a plain scheme) times the spec's ``scales``, so any init can be compared as a per-layer
    scale profile. ``InitSpec.scales`` alone is what the trial asked for on top of its scheme.
    """

    scheme: str
    applied_scales: list[float]
    layer_names: list[str]
    diagnostics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "applied_scales": self.applied_scales,
            "layer_names": self.layer_names,
            "diagnostics": self.diagnostics,
        }

    @property
    def log_emergence(self) -> float | None:
        """log E at init (-inf when E = 0); None when no diagnostics were measured."""
        return self.diagnostics.get("log_emergence")

    def layer_figure(self, key: str) -> list[float]:
        """One per-layer diagnostic (e.g. ``dead_fraction``), for the layers that have it."""
        return [
            float(layer[key])
            for layer in self.diagnostics.get("layers", [])
            if layer.get(key) is not None
        ]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InitReport:
        return cls(
            scheme=data["scheme"],
            applied_scales=[float(s) for s in data["applied_scales"]],
            layer_names=list(data["layer_names"]),
            diagnostics=dict(data.get("diagnostics") or {}),
        )


def reset_non_scalable(model: nn.Module, layer_modules: set[int]) -> None:
    """Zero the scalable layers' biases and reset norm layers to identity, so a scheme's
    effect is not mixed with torch's default bias and affine inits."""
    for module in model.modules():
        if id(module) in layer_modules and isinstance(getattr(module, "bias", None), torch.Tensor):
            nn.init.zeros_(module.bias)
        if isinstance(module, _NORMS) and getattr(module, "weight", None) is not None:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)


def apply(model: ScalableModel, spec: InitSpec, data: Dataset | None = None) -> InitReport:
    """Initialise ``model`` in place according to ``spec``; ``data`` feeds data-dependent
    schemes and the at-init diagnostics."""
    scheme = get_scheme(spec.scheme)
    if scheme.needs_data and data is None:
        raise ConfigError(
            f"init scheme {spec.scheme!r} needs training data; pass the data set to apply()"
        )
    layers = model.scalable_layers()
    spec.check_length(len(layers))
    # read the diagnostics options before any init work, so a bad one fails fast
    diagnose, threshold, diag_batch = (
        diagnostics_options(spec.options) if data is not None else (False, 0.0, 0)
    )
    ctx = InitContext(model=model, layers=layers, spec=spec, data=data)
    with torch.no_grad():
        reset_non_scalable(model, {id(layer.module) for layer in layers})
    scheme_scales = scheme.fn(ctx)
    applied = list(scheme_scales) if scheme_scales is not None else [1.0] * len(layers)
    if spec.scales is not None:
        with torch.no_grad():
            for layer, factor in zip(layers, spec.scales, strict=True):
                layer.weight.mul_(factor)
        applied = [a * b for a, b in zip(applied, spec.scales, strict=True)]
    report = InitReport(spec.scheme, [float(s) for s in applied], [layer.name for layer in layers])
    if diagnose:
        assert data is not None
        report.diagnostics = compute_diagnostics(
            model, layers, data, report.applied_scales, threshold=threshold, batch_size=diag_batch
        )
    return report
