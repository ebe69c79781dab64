"""The trial engine: (model, data, init, optimizer, seed, budget) -> convergence curve."""

from initsearch.train.curve import Curve, Summary, summarize
from initsearch.train.engine import SoloRun, TrialResult, resolve_device, run_trial
from initsearch.train.members import run_members
from initsearch.train.pack import PackEpochCallback
from initsearch.train.spec import (
    Budget,
    DataSpec,
    LoopSpec,
    OptimizerSpec,
    TrialSpec,
    spec_from,
)
from initsearch.train.user_loop import StopTrial, run_user_members

__all__ = [
    "Budget",
    "Curve",
    "DataSpec",
    "LoopSpec",
    "OptimizerSpec",
    "PackEpochCallback",
    "SoloRun",
    "StopTrial",
    "Summary",
    "TrialResult",
    "TrialSpec",
    "resolve_device",
    "run_members",
    "run_trial",
    "run_user_members",
    "spec_from",
    "summarize",
]
