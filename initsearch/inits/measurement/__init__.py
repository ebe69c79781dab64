"""At-init measurement: per-unit activity, the emergence measure, and the diagnostics dict.

``layer_activity`` records what each scalable layer's units output on a batch,
``emergence_measure`` counts the paths of the emergence measure from the active units, and
``diagnostics`` turns both (plus weight stds and gradient norms) into the report's contract.
"""

from initsearch.inits.measurement.diagnostics import (
    DEFAULT_BATCH,
    DEFAULT_THRESHOLD,
    DIAGNOSTICS_KEYS,
    LAYER_KEYS,
    RELATIVE_THRESHOLD,
    compute_diagnostics,
    diagnostics_options,
)
from initsearch.inits.measurement.emergence_measure import log_emergence
from initsearch.inits.measurement.layer_activity import LayerActivity, record_activity

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_THRESHOLD",
    "DIAGNOSTICS_KEYS",
    "LAYER_KEYS",
    "LayerActivity",
    "RELATIVE_THRESHOLD",
    "compute_diagnostics",
    "diagnostics_options",
    "log_emergence",
    "record_activity",
]
