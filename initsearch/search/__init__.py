"""Optuna search over per-layer scale factors (imports optuna; not part of the engine)."""
