"""Small study definitions for the tests (digits, tiny MLPs, seconds per trial)."""

from __future__ import annotations

from typing import Any

from initsearch.config import StudyConfig, parse_study


def tiny_study(workdir, name: str = "tiny", **overrides: Any) -> StudyConfig:
    raw: dict[str, Any] = {
        "name": name,
        "data": {"name": "digits"},
        "model": {"name": "mlp", "depth": 2, "width": 16},
        "train": {"epochs": 3, "batch_size": 64, "lr": 0.05},
        "baselines": {"schemes": ["kaiming", "xavier", "emergence"], "emergence_alphas": [1.1]},
        "pruner": {"name": "none"},
        "budget": {"trials": 6},
        # the confirmation stage has tests of its own (tests/test_confirm.py)
        "confirm": {"after_search": False, "top_k": 1, "seeds": 2},
        "workdir": str(workdir),
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(raw.get(key), dict):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return parse_study(raw, "(test)")
