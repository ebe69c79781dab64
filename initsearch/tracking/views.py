"""Addresses of the MLflow UI that open a study's runs as a researcher needs them: in the
model-training view, on the charts, with every run charted.

Why each part, as read from the MLflow 3.17 UI bundle (``mlflow/server/js/build``):

- The UI opens an experiment as GenAI (traces, judges) unless ``workflowType=machine_learning``
  is in the address or the user flipped the sidebar switch (stored per browser). Earlier 3.x
  UIs read the experiment tag ``mlflow.experimentKind``; the tracker sets both.
- ``compareRunsMode=CHART`` opens the chart view instead of the table.
- The chart view draws only the first 10 visible runs, and none nested under a collapsed
  parent (the UI fetches a listed run's parent whatever the filter, so trial runs are not
  nested: ``TAG_STUDY_RUN``). A saved view (experiment tag
  ``mlflow.sharedViewState.<key>``, opened by ``viewStateShareKey=<key>``) carries the filter
  (one stage's trial runs, without the study's own run), "show all runs" (``runsHiddenMode:
  SHOW_ALL``) and the charts, curves first.
- A saved view's filter replaces the address's own: the address then carries no
  ``searchFilter`` (the UI ignores a saved view when it does).
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Sequence

from initsearch.contract import (
    KIND_TRIAL,
    METRIC_EMERGENCE_ZERO,
    METRIC_TRAIN_LOSS,
    METRIC_TRAIN_LOSS_STEP,
    MLFLOW_RUN_ID,
    TAG_KIND,
    TAG_SHARED_VIEW_PREFIX,
    TAG_STAGE,
    UI_WORKFLOW_PARAM,
    UI_WORKFLOW_TRAINING,
)
from initsearch.labels import ROLE_BASELINE, ROLE_SEARCHED, trial_role

TRIALS_VIEW = "initsearch-trials"  # the trial runs of the experiment's own stage, charted
BEST_VIEW = "initsearch-best-vs-baselines"
# the charts, in this order (a chart of a metric no run has is hidden: hideEmptyCharts)
CURVES = ("val_accuracy", "val_loss", METRIC_TRAIN_LOSS, "test_accuracy", "test_loss")
STEPS = (METRIC_TRAIN_LOSS_STEP, "epoch_seconds")
FIGURES = (
    "final_accuracy",
    "best_accuracy",
    "first_epoch_accuracy",
    "final_val_loss",
    "area_under_loss",
    "epochs_to_target",
    "train_seconds",
    "init_log_emergence",
    "init_log_emergence_relative",
    METRIC_EMERGENCE_ZERO,
    "init_active_fraction",
    "init_loss",
)
SECTIONS = {
    "initsearch-curves": ("Curves per epoch", CURVES),
    "initsearch-figures": ("Single figures", FIGURES),
    "initsearch-steps": ("Per optimiser step, seconds per epoch", STEPS),
}


def _chart(metric: str, section: str) -> dict:
    """A chart card of the UI's chart view (its ``RunsChartsLineCardConfig`` or
    ``RunsChartsBarCardConfig``): bars for single figures, lines for the rest."""
    card = {
        "uuid": f"initsearch-{metric}",
        "type": "BAR" if metric in FIGURES else "LINE",
        "metricSectionId": section,
        "deleted": False,
        "isGenerated": True,
        "metricKey": metric,
        "displayName": metric,
        "runsCountToCompare": 100,
    }
    if card["type"] == "LINE":
        card |= {
            "selectedMetricKeys": [metric],
            "xAxisKey": "step",
            "useGlobalXaxisKey": False,
            "scaleType": "linear",
            "xAxisScaleType": "linear",
            "lineSmoothness": 0,
            "useGlobalLineSmoothing": True,
            "range": {},
        }
    return card


def _section(uuid: str, name: str) -> dict:
    return {"uuid": uuid, "name": name, "display": True, "isReordered": False, "deleted": False}


def view_state(search_filter: str, scale_params: Sequence[str] = ()) -> dict:
    """A saved runs-page view: the filter, every run charted, the best validation accuracy
    first, and the charts of :data:`SECTIONS` (a saved chart list is the whole list: the UI
    adds no chart for another metric; "Add chart" does). ``scale_params``: the per-layer
    scale params, drawn against ``val_accuracy`` in parallel coordinates."""
    sections = [_section(uuid, name) for uuid, (name, _) in SECTIONS.items()]
    charts = [_chart(m, uuid) for uuid, (_, metrics) in SECTIONS.items() for m in metrics]
    if scale_params:
        sections.insert(1, _section("initsearch-scales", "Per-layer scales"))
        charts.append(
            {
                "uuid": "initsearch-scales-parallel",
                "type": "PARALLEL",
                "metricSectionId": "initsearch-scales",
                "deleted": False,
                "isGenerated": False,
                "selectedParams": list(scale_params),
                "selectedMetrics": ["val_accuracy"],
                "showAllRuns": True,
                "runsCountToCompare": 100,
            }
        )
    return {
        "searchFilter": search_filter,
        "orderByKey": "metrics.`val_accuracy`",
        "orderByAsc": False,
        "runsHiddenMode": "SHOW_ALL",
        "hideEmptyCharts": True,
        "useGroupedValuesInCharts": True,
        "compareRunSections": sections,
        "compareRunCharts": charts,
    }


def view_tag(key: str) -> str:
    """The experiment tag the UI reads for ``viewStateShareKey=key``."""
    return TAG_SHARED_VIEW_PREFIX + key


def view_value(search_filter: str, scale_params: Sequence[str] = ()) -> str:
    return json.dumps(view_state(search_filter, scale_params), separators=(",", ":"))


def save_view(
    client, experiment_id: str, key: str, search_filter: str, scale_params: Sequence[str] = ()
) -> None:
    """Store the view on the experiment (``client``: an ``MlflowClient``)."""
    value = view_value(search_filter, scale_params)
    client.set_experiment_tag(experiment_id, view_tag(key), value)


def runs_url(ui_base: str, experiment_id: str, view: str | None = None, **params: str) -> str:
    """The experiment's runs page in the model-training view, on its charts; ``view``: a saved
    view's key (:func:`save_view`); ``params``: more of the page's address parameters
    (``searchFilter``: ignored by the UI when ``view`` is given)."""
    query = {UI_WORKFLOW_PARAM: UI_WORKFLOW_TRAINING, "compareRunsMode": "CHART"}
    if view:
        query["viewStateShareKey"] = view
    query.update(params)
    encoded = urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    return f"{ui_base.rstrip('/')}/#/experiments/{experiment_id}/runs?{encoded}"


def stage_filter(stage: str) -> str:
    """The trial runs of one stage (a study's experiment also holds its confirmation's)."""
    return f"tags.`{TAG_KIND}` = '{KIND_TRIAL}' and tags.`{TAG_STAGE}` = '{stage}'"


def stage_view(stage: str, own: bool) -> str:
    """The key of a stage's saved view: :data:`TRIALS_VIEW` in the experiment the stage owns
    (a search's, a comparison's), ``initsearch-<stage>`` in another's (a confirmation's)."""
    return TRIALS_VIEW if own else f"initsearch-{stage}"


def trials_url(ui_base: str, experiment_id: str, view: str = TRIALS_VIEW) -> str:
    """The trial runs of a stage, charted (``view``: :func:`stage_view`, a view the tracker
    saves on the experiment when it opens it)."""
    return runs_url(ui_base, experiment_id, view)


def study_url(ui_base: str, experiment_id: str, tag_keys: Iterable[str]) -> str:
    """:func:`trials_url` when the experiment has that saved view (``tag_keys``: its tags'
    keys), else its runs page on the charts (an experiment no tracker of this version opened)."""
    if view_tag(TRIALS_VIEW) in set(tag_keys):
        return trials_url(ui_base, experiment_id)
    return runs_url(ui_base, experiment_id)


def run_ids_filter(run_ids: Sequence[str]) -> str:
    """An MLflow search filter that selects exactly these runs."""
    ids = ", ".join(f"'{r}'" for r in run_ids)
    return f"attributes.run_id IN ({ids})"


def best_vs_baselines_url(
    ui_base: str, experiment_id: str, run_ids: Sequence[str], tracking_uri: str | None = None
) -> str:
    """The runs page charting these runs (the best searched trial's and every baseline's)
    side by side. With ``tracking_uri`` the filter is saved on the experiment as a view that
    charts every run however many; without, it rides in the address (the UI then charts the
    first 10, enough for the best trial and 9 baselines)."""
    search = run_ids_filter(run_ids)
    if tracking_uri is None:
        return runs_url(ui_base, experiment_id, searchFilter=search)
    from mlflow import MlflowClient

    save_view(MlflowClient(tracking_uri=tracking_uri), experiment_id, BEST_VIEW, search)
    return runs_url(ui_base, experiment_id, BEST_VIEW)


def best_vs_baselines_run_ids(study) -> list[str]:
    """The MLflow runs of an Optuna study's best searched trial (by its first objective) and of
    every baseline, for :func:`best_vs_baselines_url`; baselines alone when nothing searched
    completed."""
    import optuna

    done = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    runs = {t.number: t.user_attrs.get(MLFLOW_RUN_ID) for t in done}
    baselines = [t.number for t in done if trial_role(t.user_attrs) == ROLE_BASELINE]
    searched = [
        t
        for t in done
        if t.state == optuna.trial.TrialState.COMPLETE
        and trial_role(t.user_attrs) == ROLE_SEARCHED
        and t.values
    ]
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else -1
    best = [max(searched, key=lambda t: sign * t.values[0]).number] if searched else []
    return [runs[n] for n in best + baselines if runs[n]]
