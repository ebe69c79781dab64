"""Run a comparison: every scheme x every seed, through the study machinery.

The comparison's trials are executed by the same driver as a study's, with a
:class:`~initsearch.compare.source.CompareSource` as its work list: one trial per (scheme,
seed), enqueued once, nothing sampled, nothing pruned. Ray workers (or the inline pool) run the
trials, stale trials of a dead driver are retried once, and a second ``compare`` resumes:
finished pairs are not re-run (pairs that failed with an error are, once per invocation).

Why a trial per (scheme, seed) rather than per scheme with all seeds: a run that diverges does
not stop the scheme's other seeds (the study worker stops a trial at its first bad seed), work
spreads evenly over the workers, a resumed or enlarged comparison (more seeds, more schemes)
reuses every finished run, and each run is its own MLflow child run with its own curves.

The paired design. Seed s fixes, for every scheme, the data order (the engine's own generator
seeded with s) and the global RNG state before the model is built and initialised
(``torch.manual_seed(s)``). Schemes that draw their base weights as i.i.d. normals in layer order
therefore start from the *same base random weights*, up to a per-layer factor: Kaiming (normal,
fan_in), LeCun normal, the emergence rule and the searched scales over a Kaiming base, and
GradInit and the learned updater over their Kaiming base (they then learn per-layer factors;
their data batches use other draws and do not change the base). Xavier (uniform draws),
orthogonal (QR of a normal matrix) and LPS (its own construction) draw different weights from
the same seed: paired by data order and seed, not by weights. tests/test_compare.py checks the
proportionality.
"""

from __future__ import annotations

from collections.abc import Callable

from initsearch.compare.plan import ComparePlan
from initsearch.compare.source import CompareSource
from initsearch.contract import STUDY_COMPARED
from initsearch.run.driver import Driver, StudyProgress
from initsearch.run.pool import TrialPool
from initsearch.search.study import assemble_driver, open_tracked


def compare_driver(
    plan: ComparePlan,
    pool: TrialPool,
    on_progress: Callable[[StudyProgress], None] | None = None,
    *,
    stage: str = "comparison",
    experiment: str | None = None,
    serves: str = STUDY_COMPARED,
) -> Driver:
    """A driver whose work is the plan's (scheme, seed) pairs. ``stage`` and ``experiment``
    say where its MLflow runs go (:func:`~initsearch.search.study.open_tracked`); the study
    attribute ``serves`` names the study the pairs serve (a confirmation passes its own)."""
    opened = open_tracked(plan.cfg, pool.workers, experiment=experiment, stage=stage)
    opened.study.set_user_attr(serves, plan.study.name)
    return assemble_driver(
        opened,
        lambda ledger: CompareSource(plan, opened.study, ledger),
        pool,
        plan.cfg.budget.trials,
        on_progress,
    )


def run_comparison(
    plan: ComparePlan,
    pool: TrialPool,
    on_progress: Callable[[StudyProgress], None] | None = None,
) -> Driver:
    """Train every pair of the plan that has no finished run; returns the driver used."""
    driver = compare_driver(plan, pool, on_progress)
    driver.run()
    return driver
