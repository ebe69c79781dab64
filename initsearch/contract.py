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
NO_PROGRESS_SEEDS = "no_progress_seeds"  # on a completed trial: its seeds that did not learn
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
# the UI's kind of an experiment: classic model training, not GenAI (MLflow 3.0-3.x read this
# tag; 3.17 reads the URL parameter below or its sidebar switch, stored per browser)
TAG_EXPERIMENT_KIND = "mlflow.experimentKind"
EXPERIMENT_KIND_TRAINING = "custom_model_development"
UI_WORKFLOW_PARAM = "workflowType"  # URL parameter of the MLflow 3.17 UI
UI_WORKFLOW_TRAINING = "machine_learning"
TAG_SHARED_VIEW_PREFIX = "mlflow.sharedViewState."  # + key: a saved view of the runs page
TAG_LOGGED_ARTIFACTS = "mlflow.loggedArtifacts"  # the UI shows the listed tables as tables
TAG_KIND = "initsearch.kind"  # "study" (parent run) | "trial" (child run)
# "study" on a parent run; a child run's labels.trial_role: baseline | searched | confirmation |
# compare (runs of earlier versions: "trial", read through TAG_KIND's absence)
TAG_ROLE = "initsearch.role"
TAG_SCHEME = "initsearch.scheme"
TAG_EMERGENCE_ZERO = "initsearch.init_emergence_zero"  # "1": E = 0 at init (log E = -inf)
TAG_STATE = "initsearch.state"
TAG_STAGE = "initsearch.stage"  # "search" | "confirmation" | "comparison"
TAG_PREFIX = "initsearch."  # + baseline | reason | error | retry_of | retry_of_run | node_id
TAG_STUDY = "optuna.study"
TAG_STORAGE = "optuna.storage"
TAG_TRIAL_NUMBER = "optuna.trial_number"
# a trial run's study (parent) run. Not MLflow's own mlflow.parentRunId, which nests runs: the
# UI then hides the trials under a collapsed parent and charts none of them. Runs of earlier
# versions carry TAG_PARENT instead; readers look for both.
TAG_STUDY_RUN = "initsearch.study_run"
TAG_PARENT = "mlflow.parentRunId"
TRIAL_TAG_ATTRS = (BASELINE, REASON, ERROR, RETRY_OF, RETRY_OF_RUN, NODE_ID)
ROLE_STUDY = "study"  # TAG_ROLE of a parent run
KIND_STUDY = "study"
KIND_TRIAL = "trial"
PARAM_SCHEME = "init_scheme"
PARAM_OPTIONS = "init_options"
# one numeric param per layer, named by index and layer (``scale.03.fc3``): the spec's scales
# (what the trial asked for) and what the init applied (scheme factors x spec scales)
PARAM_SCALE_PREFIX = "scale."
PARAM_APPLIED_SCALE_PREFIX = "applied_scale."
PARAM_OPTUNA_PREFIX = "optuna."  # + the name of one of the Optuna trial's own params
PARAM_SEEDS = "seeds"
PARAM_TRIAL_NUMBER = "trial_number"
PARAM_ALPHA = "alpha"
PARAM_PACK_SIZE = "pack_size"
# metrics: the step is the epoch (1..; 0: a single figure, at init or a summary), except
# METRIC_TRAIN_LOSS_STEP, whose step is the optimiser step
METRIC_TRAIN_LOSS = "train_loss"  # mean training loss of each epoch
METRIC_TRAIN_LOSS_STEP = "train_loss_step"
METRIC_EMERGENCE_ZERO = "init_emergence_zero"  # 1.0 when E = 0 at init, else 0.0
ARTIFACT_PROFILE_TABLE = "init_profile.json"  # per-layer at-init figures of a trial, a table
ARTIFACT_PROFILE_PLOT = "init_profiles.png"  # on the parent run: every trial's profiles
