"""The trial engine: (model, data, init, optimizer, seed, budget) -> convergence curve."""

from initsearch.train.curve import Curve, Summary, summarize
from initsearch.train.engine import SoloRun, TrialResult, resolve_device, run_trial
from initsearch.train.members import run_members
from initsearch.train.pack import PackEpochCallback
from initsearch.train.spec import Budget, DataSpec, OptimizerSpec, TrialSpec, spec_from

__all__ = [
    "Budget",
    "Curve",
    "DataSpec",
    "OptimizerSpec",
    "PackEpochCallback",
    "SoloRun",
    "Summary",
    "TrialResult",
    "TrialSpec",
    "resolve_device",
    "run_members",
    "run_trial",
    "spec_from",
    "summarize",
]
