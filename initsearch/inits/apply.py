"""Apply an init spec: reset biases and norm layers, run the scheme, then per-layer scales.

Any ``nn.Module`` can be initialised: a built-in family lists its scalable layers, any other
module has them found by tracing a sample batch (``initsearch.models.discover``): the batch
given to :func:`apply`, or the first training samples of its data set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initsearch.data.base import Dataset
from initsearch.errors import ConfigError
from initsearch.inits.measurement.diagnostics import compute_diagnostics, diagnostics_options
from initsearch.inits.registry import InitContext, get_scheme
from initsearch.inits.spec import InitSpec
from initsearch.models.base import ScalableLayer
from initsearch.models.discover import NORM_TYPES, SAMPLE_BATCH, model_layers


@dataclass
class InitReport:
    """What an init did: scheme, the per-layer factors it applied, at-init diagnostics.

    ``applied_scales`` is the scheme's own factor vector (emergence rule, GradInit; all ones
    for a plain scheme) times the spec's ``scales``, so any init can be compared as a per-layer
    scale profile. ``InitSpec.scales`` alone is what the trial asked for on top of its scheme.
    ``unsupported``, ``reused``, ``unused``: what tracing a plain module found besides its
    layers (``initsearch.models.discover.Discovery``); empty for a built-in model.
    """

    scheme: str
    applied_scales: list[float]
    layer_names: list[str]
    diagnostics: dict[str, Any] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "applied_scales": self.applied_scales,
            "layer_names": self.layer_names,
            "diagnostics": self.diagnostics,
            "unsupported": self.unsupported,
            "reused": self.reused,
            "unused": self.unused,
        }

    @property
    def log_emergence(self) -> float | None:
        """log E at init (-inf when E = 0); None when no diagnostics were measured."""
        return self.diagnostics.get("log_emergence")

    @property
    def log_emergence_relative(self) -> float | None:
        """log E at init with the scale-free threshold (a fraction of each layer's mean
        activity); None without diagnostics or in a report stored before it existed."""
        return self.diagnostics.get("log_emergence_relative")

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
            unsupported=list(data.get("unsupported") or []),
            reused=list(data.get("reused") or []),
            unused=list(data.get("unused") or []),
        )


def reset_non_scalable(model: nn.Module, layers: list[ScalableLayer]) -> None:
    """Zero the scalable layers' biases and reset norm layers to identity, so a scheme's
    effect is not mixed with torch's default bias and affine inits."""
    for layer in layers:
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
    for module in model.modules():
        if isinstance(module, NORM_TYPES):
            if isinstance(getattr(module, "weight", None), torch.Tensor):
                nn.init.ones_(module.weight)
            if isinstance(getattr(module, "bias", None), torch.Tensor):
                nn.init.zeros_(module.bias)


def apply(
    model: nn.Module,
    spec: InitSpec,
    data: Dataset | torch.Tensor | None = None,
    *,
    activations: Mapping[str, str] | None = None,
) -> InitReport:
    """Initialise ``model`` in place according to ``spec``.

    ``data``: a Dataset feeds data-dependent schemes and the at-init diagnostics, and lends a
    plain module its first training samples to find its layers by; a Tensor is only that
    sample batch. ``activations`` (layer name -> activation) overrides the nonlinearity found
    after a layer.
    """
    scheme = get_scheme(spec.scheme)
    dataset = data if isinstance(data, Dataset) else None
    if scheme.needs_data and dataset is None:
        raise ConfigError(
            f"init scheme {spec.scheme!r} needs training data; pass the data set to apply()"
        )
    sample = dataset.x_train[:SAMPLE_BATCH] if dataset is not None else data
    assert sample is None or isinstance(sample, torch.Tensor)
    found = model_layers(model, sample, activations)
    layers = found.layers
    if not layers:
        raise ConfigError(
            f"model {type(model).__name__} has no scalable layer (Linear, Conv, ConvTranspose, "
            f"Embedding, MultiheadAttention) that runs on the sample batch; unsupported modules: "
            f"{', '.join(found.unsupported) or 'none'}"
        )
    spec.check_length(len(layers))
    # read the diagnostics options before any init work, so a bad one fails fast
    diagnose, threshold, diag_batch = (
        diagnostics_options(spec.options) if dataset is not None else (False, 0.0, 0)
    )
    ctx = InitContext(model=model, layers=layers, spec=spec, data=dataset)
    with torch.no_grad():
        reset_non_scalable(model, layers)
    scheme_scales = scheme.fn(ctx)
    applied = list(scheme_scales) if scheme_scales is not None else [1.0] * len(layers)
    if spec.scales is not None:
        with torch.no_grad():
            for layer, factor in zip(layers, spec.scales, strict=True):
                layer.weight.mul_(factor)
        applied = [a * b for a, b in zip(applied, spec.scales, strict=True)]
    report = InitReport(
        spec.scheme,
        [float(s) for s in applied],
        [layer.name for layer in layers],
        unsupported=list(found.unsupported),
        reused=list(found.reused),
        unused=list(found.unused),
    )
    if diagnose:
        assert dataset is not None
        report.diagnostics = compute_diagnostics(
            model,
            layers,
            dataset,
            report.applied_scales,
            threshold=threshold,
            batch_size=diag_batch,
        )
    return report
