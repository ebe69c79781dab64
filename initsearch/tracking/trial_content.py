"""What a trial's MLflow run holds: its params, its metrics and its at-init profile table.

Pure functions from a trial's spec and results to MLflow entities, so the tracker only
writes. The shape serves the MLflow UI's views:

- one numeric param per layer (``scale.03.fc3``, ``applied_scale.03.fc3``) and the Optuna
  trial's own params (``optuna.profile_a``), so parallel coordinates and the runs table
  see numbers, not one comma-joined string (a category);
- every metric's step is the epoch (1.. for curves), except ``train_loss_step``, whose step is
  the optimiser step; a single figure (at init, or a summary) sits at step 0, which the UI
  draws as a bar chart;
- the per-layer at-init figures (scale, weight std, activation std, dead fraction, gradient
  norm) as one table (``init_profile.json``, pandas' "split" layout, which the UI shows as a
  table), not as metrics indexed by layer: a step then meant three things.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from initsearch.contract import (
    METRIC_EMERGENCE_ZERO,
    METRIC_TRAIN_LOSS,
    METRIC_TRAIN_LOSS_STEP,
    PARAM_ALPHA,
    PARAM_APPLIED_SCALE_PREFIX,
    PARAM_OPTIONS,
    PARAM_OPTUNA_PREFIX,
    PARAM_SCALE_PREFIX,
    PARAM_SCHEME,
    PARAM_SEEDS,
    PARAM_TRIAL_NUMBER,
)
from initsearch.inits import InitReport, InitSpec
from initsearch.train import TrialResult

# per-epoch curves under their MLflow names (``train_loss``: each epoch's mean training loss)
EPOCH_CURVES = {
    "val_loss": "val_loss",
    "val_accuracy": "val_accuracy",
    "test_loss": "test_loss",  # test-split curves: only on trials that measured the test split
    "test_accuracy": "test_accuracy",
    "epoch_seconds": "epoch_seconds",
    "epoch_train_loss": METRIC_TRAIN_LOSS,
}
PROFILE_COLUMNS = ("scale", "weight_std", "activation_std", "dead_fraction", "grad_norm")
_NOT_IN_KEY = re.compile(r"[^\w.\- /]")  # MLflow keys: alphanumerics, _ - . space /


def layer_key(prefix: str, index: int, name: str | None, count: int) -> str:
    """``scale.03.fc3``: the index zero-padded (sorts in layer order), then the layer's name
    with characters MLflow refuses in a key replaced by ``_``."""
    key = f"{prefix}{index:0{max(2, len(str(count - 1)))}d}"
    if name:
        key += "." + _NOT_IN_KEY.sub("_", name).replace("..", "._")
    return key


def scale_params(
    prefix: str, values: Sequence[float], names: Sequence[str] | None
) -> dict[str, str]:
    """One param per layer; names only when they match the values one to one."""
    named = names if names is not None and len(names) == len(values) else None
    return {
        layer_key(prefix, i, named[i] if named else None, len(values)): f"{float(v):.6g}"
        for i, v in enumerate(values)
    }


def trial_params(
    init: InitSpec,
    applied: Sequence[float] | None,
    seeds: Sequence[int],
    trial_number: int,
    layer_names: Sequence[str] | None = None,
    optuna_params: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The MLflow params of a trial: the init spec it asked for (``scale.*``: the spec's
    per-layer factors), what the init applied (``applied_scale.*``: the scheme's own factors
    times the spec's), its seeds and the Optuna trial's own params (``optuna.*``)."""
    params: dict[str, Any] = {
        PARAM_SCHEME: init.scheme,
        PARAM_OPTIONS: json.dumps(init.options, sort_keys=True),
        PARAM_TRIAL_NUMBER: trial_number,
    }
    if seeds:
        params[PARAM_SEEDS] = ",".join(str(s) for s in seeds)
    if init.scales is not None:
        params.update(scale_params(PARAM_SCALE_PREFIX, init.scales, layer_names))
    if applied is not None:
        params.update(scale_params(PARAM_APPLIED_SCALE_PREFIX, applied, layer_names))
    if PARAM_ALPHA in init.options:
        params[PARAM_ALPHA] = init.options[PARAM_ALPHA]
    params.update(optuna_params_of(optuna_params or {}))
    return params


def optuna_params_of(params: Mapping[str, Any]) -> dict[str, Any]:
    """The Optuna trial's own params as MLflow params (``optuna.<name>``)."""
    return {PARAM_OPTUNA_PREFIX + _NOT_IN_KEY.sub("_", k): v for k, v in params.items()}


def curve_metrics(result: TrialResult, suffix: str, timestamp: int) -> list:
    """A result's curves, per epoch (step = epoch, 1..) and per optimiser step
    (``train_loss_step``), and its summary at step 0; the test-split curves
    and figures appear only when the trial measured them."""
    from mlflow.entities import Metric

    curve = result.curve
    out = [
        Metric(f"{METRIC_TRAIN_LOSS_STEP}{suffix}", float(v), timestamp, int(s))
        for s, v in zip(curve.train_step, curve.train_loss, strict=True)
    ]
    for field, key in EPOCH_CURVES.items():
        out += [
            Metric(f"{key}{suffix}", float(v), timestamp, e + 1)
            for e, v in enumerate(getattr(curve, field))
        ]
    # the metrics a researcher's training function reported beyond the known ones, per epoch
    for key, values in curve.extra.items():
        out += [
            Metric(f"user_{key}{suffix}", float(v), timestamp, e + 1)
            for e, v in enumerate(values)
            if math.isfinite(v)
        ]
    for key, value in result.summary.to_dict().items():
        # a summary figure named like a curve (test_accuracy, test_loss) is the curve's last
        # value: the curve carries it, and one name must not mix steps of two meanings
        if value is not None and key not in EPOCH_CURVES:
            out.append(Metric(f"{key}{suffix}", float(value), timestamp, 0))
    return out


def emergence_zero(init: InitReport) -> bool:
    """E = 0 at init: log E is -inf, which no metric can hold; the run is flagged instead."""
    return init.log_emergence == -math.inf


def init_metrics(init: InitReport, timestamp: int) -> list:
    """The scalar at-init figures at step 0 (before the first epoch; log E under the absolute
    and the scale-free threshold), and 0/1
    ``init_emergence_zero`` wherever log E was measured."""
    from mlflow.entities import Metric

    diag = init.diagnostics or {}
    out = []
    for key in (
        "log_emergence",
        "log_emergence_relative",
        "loss",
        "active_fraction",
        "active_fraction_relative",
    ):
        value = diag.get(key)
        if value is not None and math.isfinite(value):
            out.append(Metric(f"init_{key}", float(value), timestamp, 0))
    if diag.get("log_emergence") is not None:
        out.append(Metric(METRIC_EMERGENCE_ZERO, float(emergence_zero(init)), timestamp, 0))
    return out


def profile_table(init: InitReport) -> dict[str, list] | None:
    """The per-layer at-init figures, one row per layer, in pandas' "split" layout
    (``columns``, ``data``), which MLflow's ``log_table`` writes and its UI reads; the applied
    scale alone when no diagnostics were measured, None when there are no layers."""
    layers = (init.diagnostics or {}).get("layers") or []
    names = init.layer_names
    if not layers and not init.applied_scales:
        return None
    rows = []
    for i, scale in enumerate(init.applied_scales):
        layer = layers[i] if i < len(layers) else {}
        name = layer.get("name") or (names[i] if i < len(names) else "")
        rows.append([i, name, float(scale)] + [layer.get(k) for k in PROFILE_COLUMNS[1:]])
    return {"columns": ["layer", "name", *PROFILE_COLUMNS], "data": rows}
