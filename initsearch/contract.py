"""The keys other programs and stored studies rely on, defined once.

Optuna user attributes, MLflow params, tags and metric names are read back by the dashboards,
the reports, a resumed study and other drivers of the same study; renaming one silently breaks
whatever stored it. Code writes and reads these keys only through the constants here.
"""

from __future__ import annotations

# ---- Optuna study user attributes ----------------------------------------------------------
STUDY_CONFIG = "config"  # the validated study file, as JSON
STUDY_LAYER_NAMES = "layer_names"
STUDY_LAYER_DEPTHS = "layer_depths"
STUDY_MLFLOW_PARENT = "mlflow_parent_run_id"
STUDY_TRACKING_URI = "tracking_uri"  # relative to the study's folder when it lies inside it
STUDY_COMPARED = "compared_study"  # on a comparison: the study it compares
STUDY_CONFIRMED = "confirmed_study"  # on a confirmation: the study it confirms
STUDY_VERDICT = "verdict"  # on a study: its confirmation's verdict (initsearch.confirm)
DRIVER_BEAT_PREFIX = "driver:"  # + driver id -> time of its last heartbeat
DRIVER_PROCESS_PREFIX = "driver_process:"  # + driver id -> {"host", "boot", "pid"} it runs as

# ---- Optuna trial user attributes ----------------------------------------------------------
BASELINE = "baseline"  # name of the baseline (or comparison pair) a trial runs
DRIVER = "driver"  # id of the driver that runs the trial
INIT = "init"  # the trial's InitSpec.to_dict()
APPLIED_SCALES = "applied_scales"  # scheme factors x spec scales, as the init applied them
LOG_EMERGENCE = "log_emergence"
VAL_ACCURACY_CURVE = "val_accuracy_curve"
SEED_VALUES = "seed_values"  # the first objective on each seed, in seed order (validation)
ARM_KIND = "arm_kind"  # on a confirmation trial: "baseline" | "searched"
SOURCE_TRIAL = "source_trial"  # on a confirmation trial of a searched arm: the study's trial
MLFLOW_RUN_ID = "mlflow_run_id"
PID = "pid"
NODE_ID = "node_id"
REASON = "reason"
ERROR = "error"
REQUEUED = "requeued"  # a failed trial that was enqueued again (its retry counts instead)
RETRY_OF = "retry_of"  # on a retry: the number of the trial it repeats
RETRY_OF_RUN = "retry_of_run"  # on a retry: the MLflow run id of the trial it repeats
WORKER_LOSSES = "worker_losses"  # times a trial's work lost its worker (kept by its retries)
# comparison trials
RUN = "run"  # the compact run record (initsearch.compare.record.RunRecord)
SCHEME = "scheme"
SEED = "seed"
SETUP = "setup"  # hash of data, model and training settings
PAIR_ATTRS = (BASELINE, SCHEME, SEED, INIT, SETUP)

# ---- MLflow ---------------------------------------------------------------------------------
EXPERIMENT_PREFIX = "initsearch/"
TAG_ROLE = "initsearch.role"  # "study" (parent run) | "trial" (child run)
TAG_STATE = "initsearch.state"
TAG_STAGE = "initsearch.stage"  # "search" | "confirmation"
TAG_PREFIX = "initsearch."  # + baseline | reason | error | retry_of | retry_of_run | node_id
TAG_STUDY = "optuna.study"
TAG_STORAGE = "optuna.storage"
TAG_TRIAL_NUMBER = "optuna.trial_number"
TAG_PARENT = "mlflow.parentRunId"
TRIAL_TAG_ATTRS = (BASELINE, REASON, ERROR, RETRY_OF, RETRY_OF_RUN, NODE_ID)
PARAM_SCHEME = "init_scheme"
PARAM_OPTIONS = "init_options"
PARAM_SCALES = "init_scales"  # the spec's scales (what the trial asked for)
PARAM_APPLIED_SCALES = "applied_scales"  # what the init applied (scheme factors x spec scales)
PARAM_SEEDS = "seeds"
PARAM_TRIAL_NUMBER = "trial_number"
PARAM_ALPHA = "alpha"
PARAM_PACK_SIZE = "pack_size"
