"""A trial's name and role are read from its stored attributes the same way in every view."""

from __future__ import annotations

import pytest

from initsearch.contract import BASELINE, SCHEME, SEED
from initsearch.labels import (
    ROLE_BASELINE,
    ROLE_COMPARE,
    ROLE_CONFIRMATION,
    ROLE_SEARCHED,
    STAGE_COMPARISON,
    STAGE_CONFIRMATION,
    trial_label,
    trial_role,
)


@pytest.mark.parametrize(
    ("attrs", "number", "stage", "label", "role"),
    [
        ({BASELINE: "kaiming"}, 0, "search", "kaiming", ROLE_BASELINE),
        ({BASELINE: "emergence(alpha=1.1)"}, 3, "search", "emergence(alpha=1.1)", ROLE_BASELINE),
        ({}, 14, "search", "searched #14", ROLE_SEARCHED),
        (
            {BASELINE: "searched#1/seed=3", SCHEME: "searched#1", SEED: 3},
            40,
            STAGE_CONFIRMATION,
            "confirm: searched#1 seed 3",
            ROLE_CONFIRMATION,
        ),
        (
            {BASELINE: "xavier/seed=2", SCHEME: "xavier", SEED: 2},
            7,
            STAGE_COMPARISON,
            "compare: xavier seed 2",
            ROLE_COMPARE,
        ),
    ],
)
def test_names_and_roles(attrs, number, stage, label, role):
    assert trial_label(attrs, number, stage) == label
    assert trial_role(attrs, stage) == role
