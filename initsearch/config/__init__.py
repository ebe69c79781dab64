"""Validated study definitions (``studies/*.yaml``).

A study file says what to train (data, model, optimizer, epochs), what to search (per-layer
log-scale bounds over a base init, optional tied layer groups, optional emergence alpha), what
to optimise, with which sampler and pruner, for how long, and where results go. Unknown keys,
wrong types and impossible bounds are errors that name the key.
"""

from __future__ import annotations

from initsearch.config.sections import DataConfig, ModelConfig, Reference, TrainConfig
from initsearch.config.study import (
    MAXIMISE,
    BaselinesConfig,
    BudgetConfig,
    ConfirmConfig,
    Metric,
    ObjectiveConfig,
    PrunerConfig,
    RayConfig,
    SamplerConfig,
    SearchConfig,
    StudyConfig,
    load_study,
    parse_study,
)

__all__ = [
    "MAXIMISE",
    "BaselinesConfig",
    "BudgetConfig",
    "ConfirmConfig",
    "DataConfig",
    "Metric",
    "ModelConfig",
    "ObjectiveConfig",
    "PrunerConfig",
    "RayConfig",
    "Reference",
    "SamplerConfig",
    "SearchConfig",
    "StudyConfig",
    "TrainConfig",
    "load_study",
    "parse_study",
]
