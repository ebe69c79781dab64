"""Executing a study's trials: the driver loop (Optuna ask/tell) and Ray workers."""
