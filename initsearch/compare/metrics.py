"""The metrics a comparison judges schemes by: their names (``metric`` in ``compare.json``'s
stats rows), which way is better, and their labels.

A comparison judges on the TEST split. The search, its pruners and the study's objective see
the validation split only (a fixed part of the training data), so a scheme or a searched
configuration chosen there is judged here on data that took no part in choosing it. Every
accuracy and loss metric is therefore a test figure and says so in its name and label; the
area under the loss is the training loss, which no split changes. ``epochs_to_target`` counts
epochs until the test accuracy curve reaches the comparison's target (a test accuracy).

A run whose record has no test figures (trained before comparisons measured the test split)
has no value for these metrics: it is left out of their means and tests, never replaced by its
validation figures.
"""

from __future__ import annotations

FIRST_EPOCH_TEST_ACCURACY = "first_epoch_test_accuracy"
TEST_ACCURACY = "test_accuracy"  # the final epoch's
TEST_LOSS = "test_loss"  # the final epoch's
AREA_UNDER_LOSS = "area_under_loss"  # training loss
EPOCHS_TO_TARGET = "epochs_to_target"  # on the test accuracy curve

ACCURACY_CURVE = "test_accuracy"  # per-epoch test accuracy (a run's ``curve``)
LOSS_CURVE = "test_loss"  # per-epoch test loss

METRICS: dict[str, bool] = {
    FIRST_EPOCH_TEST_ACCURACY: True,
    TEST_ACCURACY: True,
    TEST_LOSS: False,
    AREA_UNDER_LOSS: False,
    EPOCHS_TO_TARGET: False,
}
"""Metric -> higher is better."""

CORRELATED = (FIRST_EPOCH_TEST_ACCURACY, TEST_ACCURACY)
"""The metrics correlated with the emergence measure at init."""

LABELS: dict[str, str] = {
    FIRST_EPOCH_TEST_ACCURACY: "First-epoch test accuracy",
    TEST_ACCURACY: "Final test accuracy",
    TEST_LOSS: "Final test loss",
    AREA_UNDER_LOSS: "Area under the training loss curve",
    EPOCHS_TO_TARGET: "Epochs to the target test accuracy",
}
"""Metric -> its heading in reports and figures."""

SPLIT = "test"
"""The split a comparison judges on (``methods.split`` in ``compare.json``)."""
