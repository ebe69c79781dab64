"""How the reports write numbers: one number of decimals per table, chosen from its values.

A column that reads 0.9, 0.9123 and 0.91 (``:.4g``) looks like values of different precision.
The reports instead write every number of one table with the same decimals: enough for three
significant digits of its largest magnitude (accuracies 0.912, losses 2.31, seconds 124).
Differences carry a sign, p-values three decimals or "< 0.001"; a missing value is a dash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

SIGNIFICANT = 3
MAX_DECIMALS = 6
MISSING = "–"


def number(value: Any) -> float | None:
    """``value`` as a finite float, or None (missing, non-numeric, NaN or infinite)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def decimals_for(values: Iterable[Any], significant: int = SIGNIFICANT) -> int:
    """Decimals giving the largest magnitude among ``values`` ``significant`` digits."""
    found = [abs(v) for x in values if (v := number(x)) is not None and v != 0]
    if not found:
        return significant
    exponent = math.floor(math.log10(max(found)))
    return min(MAX_DECIMALS, max(0, significant - 1 - exponent))


def fixed(value: Any, decimals: int, signed: bool = False) -> str:
    v = number(value)
    if v is None:
        return MISSING
    return f"{v:+.{decimals}f}" if signed else f"{v:.{decimals}f}"


def fmt(value: Any, digits: int = 4) -> str:
    """A lone number (not in a table): ``digits`` significant digits."""
    v = number(value)
    if v is None:
        return MISSING
    if v != 0 and (abs(v) >= 10**digits or abs(v) < 10 ** -(digits - 1)):
        return f"{v:.{digits - 1}e}"
    return f"{v:.{digits}g}"


def fmt_p(value: Any) -> str:
    v = number(value)
    if v is None:
        return MISSING
    return "< 0.001" if v < 0.001 else f"{v:.3f}"
