"""initsearch: which weight initialization makes a network train best, and why.

The engine (``initsearch.data``, ``initsearch.models``, ``initsearch.inits``,
``initsearch.train``) needs only torch, numpy and small data packages, so it runs on a bare GPU
machine; Optuna, Ray and MLflow are imported only by the modules that use them.
"""

__version__ = "0.1.0"

__all__ = ["__version__", "run_study"]


def __getattr__(name: str):
    """``initsearch.run_study`` (initsearch.api), imported on first use: the engine must stay
    importable with torch and numpy alone, and the API imports Optuna, Ray and MLflow."""
    if name == "run_study":
        from initsearch.api import run_study

        return run_study
    raise AttributeError(f"module 'initsearch' has no attribute {name!r}")
