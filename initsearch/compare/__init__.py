"""Comparisons: every init scheme over N seeds in a paired design, judged on the test split.

``plan_comparison`` says what runs (schemes x seeds), ``run_comparison`` trains the missing
pairs through the study machinery (``runner``; every trial also measures the test split),
``collect`` reads the runs back and ``analyse`` adds the statistics (``analysis``, ``stats``,
metrics in ``metrics``); ``write_outputs`` / ``print_table`` (``table``) write ``compare.json``
+ ``stats.csv`` and the terminal table. ``results`` chains the reading steps.

``<workdir>/<study>/compare/compare.json`` (the contract the HTML report reads; non-finite
floats are null). ``test_*`` keys are the test split (null when a run has no test figures);
``val_*`` keys and first_epoch_accuracy / final_accuracy / best_accuracy / final_val_loss are
the validation split (what the search chose on), kept for reference and never tested::

    study, seeds [int], reference "kaiming", correction "holm", target_accuracy (a test acc.),
    layer_names, layer_depths,
    schemes: [{name, init {scheme, scales, options},
               runs: [{seed, status completed|diverged|stopped|failed, reason,
                       no_progress (completed but did not learn; null: unknown),
                       summary {first_epoch_test_accuracy, test_accuracy, test_loss,
                                first_epoch_accuracy, final_accuracy, best_accuracy,
                                final_val_loss, area_under_loss (training loss),
                                epochs_to_target, seconds_to_target (test accuracy curve),
                                train_seconds, chance_accuracy},
                       curve {test_accuracy, test_loss, val_accuracy, val_loss,
                              epoch_train_loss: per epoch},
                       scales [per layer], log_emergence, log_emergence_relative,
                       dead_fraction}]}],
    stats: [{scheme, metric first_epoch_test_accuracy|test_accuracy|test_loss|
             area_under_loss|epochs_to_target, n, mean, ci_low, ci_high, diverged,
             no_progress (completed runs that did not learn; kept in n and mean),
             vs_reference: null | {diff, ci_low, ci_high, test, p, p_adjusted,
                                   effect_size, significant}}],
    correlations: [{x "log_emergence", y first_epoch_test_accuracy|test_accuracy, n,
                    spearman_r, p}]

Extra keys are listed in :mod:`initsearch.compare.collect`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from initsearch.compare.analysis import analyse
from initsearch.compare.collect import collect
from initsearch.compare.plan import ComparePlan, load_comparison_study, pending, plan_comparison
from initsearch.compare.runner import compare_driver, run_comparison
from initsearch.compare.schemes import DEFAULT_ALPHAS, DEFAULT_SCHEMES, REFERENCE, SEARCHED
from initsearch.compare.table import print_table, write_outputs


def output_dir(plan: ComparePlan) -> Path:
    """``<workdir>/<study>/compare``."""
    return Path(plan.study.workdir) / plan.study.name / "compare"


def results(plan: ComparePlan) -> dict[str, Any]:
    """The comparison's contract dict from what its storage holds now."""
    return analyse(collect(plan, load_comparison_study(plan)))


__all__ = [
    "DEFAULT_ALPHAS",
    "DEFAULT_SCHEMES",
    "REFERENCE",
    "SEARCHED",
    "ComparePlan",
    "analyse",
    "collect",
    "compare_driver",
    "output_dir",
    "pending",
    "plan_comparison",
    "print_table",
    "results",
    "run_comparison",
    "write_outputs",
]
