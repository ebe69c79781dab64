"""Is a per-layer scale profile the emergence rule's line?

The emergence rule (arXiv 2407.19044) multiplies layer i's weight by ``alpha ** (d_i - pivot)``,
``d_i`` its depth along the forward path and ``pivot = max_depth // 2`` (the convention of
:mod:`initsearch.inits.schemes.emergence`). In logs that is a straight line in depth, so a
searched profile ``s_i`` is tested by the least-squares fit
``log s_i = (d_i - pivot) * log(alpha) + c``: the slope gives the rule's alpha, ``c`` the
overall log-scale at the pivot, and R^2 how much of the profile's variation across depth the
line explains. Only numpy and scipy are used.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class EmergenceFit:
    """The least-squares emergence line through one profile.

    ``r2`` is 1 for a profile that is constant (nothing to explain, and the line with alpha = 1
    fits it exactly); ``alpha_ci95`` is None with only two depths (no degrees of freedom).
    """

    alpha: float
    log_alpha: float
    intercept: float
    r2: float
    p_value: float | None
    alpha_ci95: tuple[float, float] | None
    rms_residual: float
    pivot: float
    n_layers: int

    def line(self, depths: Sequence[float]) -> list[float]:
        """The fitted per-layer scales ``exp(c) * alpha ** (d - pivot)``."""
        return [math.exp(self.intercept + (d - self.pivot) * self.log_alpha) for d in depths]

    def to_dict(self) -> dict:
        out = asdict(self)
        out["alpha_ci95"] = list(self.alpha_ci95) if self.alpha_ci95 else None
        return out


def default_pivot(depths: Sequence[int]) -> int:
    """The rule's default pivot, ``max_depth // 2`` (as in the emergence scheme)."""
    return int(max(depths)) // 2


def fit_emergence(
    scales: Sequence[float], depths: Sequence[float], pivot: float | None = None
) -> EmergenceFit:
    """Fit ``log s_i = (d_i - pivot) * log(alpha) + c`` by least squares (scipy's linregress).

    Raises ValueError when the profile cannot be fitted: lengths differ, a scale is not a
    positive finite number, or all layers share one depth.
    """
    from scipy import stats

    s = np.asarray(scales, dtype=float)
    d = np.asarray(depths, dtype=float)
    if s.shape != d.shape or s.ndim != 1:
        raise ValueError(f"{len(s)} scales but {len(d)} depths; give one depth per layer")
    if not np.all(np.isfinite(s) & (s > 0)):
        raise ValueError(f"scales must be positive finite numbers to take logs, got {s.tolist()}")
    if len(np.unique(d)) < 2:
        raise ValueError("all layers share one depth; a line in depth needs two depths at least")
    p = float(default_pivot(d.astype(int).tolist()) if pivot is None else pivot)
    x, y = d - p, np.log(s)
    fit = stats.linregress(x, y)
    slope, intercept = float(fit.slope), float(fit.intercept)
    residual = y - (slope * x + intercept)
    ss_res = float(np.sum(residual**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    # a constant profile (ss_tot at rounding level) lies exactly on the alpha = 1 line
    r2 = 1.0 if ss_tot <= 1e-24 * max(1.0, float(np.sum(y**2))) else 1.0 - ss_res / ss_tot
    ci = None
    if len(s) > 2 and math.isfinite(fit.stderr):
        half = float(stats.t.ppf(0.975, len(s) - 2)) * float(fit.stderr)
        ci = (math.exp(slope - half), math.exp(slope + half))
    p_value = float(fit.pvalue) if math.isfinite(fit.pvalue) and ss_tot > 0 else None
    return EmergenceFit(
        alpha=math.exp(slope),
        log_alpha=slope,
        intercept=intercept,
        r2=r2,
        p_value=p_value,
        alpha_ci95=ci,
        rms_residual=math.sqrt(ss_res / len(s)),
        pivot=p,
        n_layers=len(s),
    )


def try_fit(
    scales: Sequence[float] | None, depths: Sequence[float], pivot: float | None = None
) -> tuple[EmergenceFit | None, str | None]:
    """``fit_emergence`` for report code: (fit, None), or (None, why it could not be fitted)."""
    if not scales:
        return None, "no per-layer scales recorded"
    try:
        return fit_emergence(scales, depths, pivot), None
    except ValueError as err:
        return None, str(err)


def verdict(fit: EmergenceFit) -> str:
    """One line saying whether a profile follows the emergence rule, and in which direction.

    Thresholds (R^2 >= 0.8 "close to a line", p < 0.05 "slope distinguishable from flat") are
    reading aids, not tests with a stated error rate; with few layers a line fits easily.
    """
    direction = (
        "emergence direction (alpha > 1: early layers smaller, late layers larger)"
        if fit.alpha > 1
        else "opposite direction (alpha < 1: early layers larger, late layers smaller)"
        if fit.alpha < 1
        else "flat (alpha = 1)"
    )
    shape = "close to the rule's line" if fit.r2 >= 0.8 else "not a line in depth"
    slope = (
        f", slope {'distinguishable' if fit.p_value < 0.05 else 'not distinguishable'} from "
        f"flat (p = {fit.p_value:.2g})"
        if fit.p_value is not None
        else ""
    )
    return f"{shape} (R^2 = {fit.r2:.2f} over {fit.n_layers} layers), {direction}{slope}"
