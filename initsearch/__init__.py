"""initsearch: which weight initialization makes a network train best, and why.

The engine (``initsearch.data``, ``initsearch.models``, ``initsearch.inits``,
``initsearch.train``) needs only torch, numpy and small data packages, so it runs on a bare GPU
machine; Optuna, Ray and MLflow are imported only by the modules that use them.
"""

__version__ = "0.1.0"
