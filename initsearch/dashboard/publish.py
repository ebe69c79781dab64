"""Write a study's notes and figures into its Optuna storage, where optuna-dashboard shows them.

When: at the end of ``initsearch study start`` (MLflow links point at the default UI address,
or at the tracking server the study logs to) and when ``initsearch dashboard`` starts and every
``REFRESH_S`` while it runs (links point at the UI it serves). Not per trial on the driver's
critical path: a note is two synced storage writes and two reads of the study's attributes,
about 8 ms on a journal file (twice a ``set_user_attr``), and the dashboard command keeps a
running study's notes current anyway.

Only what changed is written (a note or figure equal to the stored one costs one read), and a
note a researcher edited in the dashboard is kept: a note is ours while its last line is
``NOTE_MARK``. The study is read through a plain loaded copy (random sampler), so a study's own
sampler (a grid's) never touches finished trials.
"""

from __future__ import annotations

from dataclasses import dataclass

import optuna
import plotly.graph_objects as go
from optuna.trial import FrozenTrial, TrialState

from initsearch import stores
from initsearch.confirm import current_verdict
from initsearch.contract import (
    BASELINE,
    INIT,
    REQUEUED,
    SCHEME,
    STUDY_COMPARED,
    STUDY_CONFIG,
    STUDY_CONFIRMED,
    STUDY_LAYER_DEPTHS,
    STUDY_LAYER_NAMES,
    STUDY_MLFLOW_PARENT,
)
from initsearch.dashboard.defaults import MLFLOW_URL
from initsearch.dashboard.figures import curves_figure, profiles_figure, verdict_figure
from initsearch.dashboard.mlflow_links import run_links
from initsearch.dashboard.notes import StudyView, study_note, trial_note
from initsearch.labels import STAGE_SEARCH, study_stage, trial_label
from initsearch.run.optuna_adapter import trial_handle, trial_id
from initsearch.run.signals import deferred_signals

REFRESH_S = 30.0  # notes of a running study: a write only for a trial that changed
FIGURES_EVERY_S = 300.0  # figures: each rewrite appends the whole figure to the journal
NOTE_MARK = "_initsearch refreshes this note; delete this line to keep your own edits._"
FIGURE_IDS = {
    "curves": "initsearch-curves",
    "profiles": "initsearch-profiles",
    "verdict": "initsearch-verdict",
}


@dataclass
class Published:
    """What one publication wrote (unchanged notes and figures are not counted)."""

    notes: int = 0
    figures: int = 0

    def __iadd__(self, other: Published) -> Published:
        self.notes += other.notes
        self.figures += other.figures
        return self


def _ours(stored: str) -> bool:
    return not stored.strip() or stored.rstrip().endswith(NOTE_MARK)


def _write_note(target: optuna.Study | optuna.Trial, body: str) -> int:
    from optuna_dashboard import get_note, save_note  # 2 s to import: only when writing

    body = f"{body}\n{NOTE_MARK}\n"
    stored = get_note(target)
    if stored == body or not _ours(stored):
        return 0
    with deferred_signals():  # a note cut in half would no longer end with NOTE_MARK
        save_note(target, body)
    return 1


def _stored_figures(study: optuna.Study) -> dict[str, str]:
    try:  # the dashboard's own reader of its figure attributes (not a public name)
        from optuna_dashboard._custom_plot_data import get_plotly_graph_objects
    except ImportError:
        return {}
    return get_plotly_graph_objects(study._storage.get_study_system_attrs(study._study_id))


def _write_figures(study: optuna.Study, figures: dict[str, go.Figure | None]) -> int:
    from optuna_dashboard import save_plotly_graph_object

    stored = _stored_figures(study)
    written = 0
    for key, fig in figures.items():
        if fig is not None and stored.get(FIGURE_IDS[key]) != fig.to_json():
            with deferred_signals():
                save_plotly_graph_object(study, fig, graph_object_id=FIGURE_IDS[key])
            written += 1
    return written


def _first_value(t: FrozenTrial) -> float:
    return t.values[0]


def study_figures(study: optuna.Study, trials: list[FrozenTrial], view: StudyView) -> dict:
    """The study's figures by key (None where the study's state draws nothing yet)."""
    if view.stage != STAGE_SEARCH:  # a fixed grid: each arm's seeds in one colour
        arms = [(str(t.user_attrs.get(SCHEME) or t.user_attrs.get(BASELINE)), t) for t in trials]
        return {"curves": curves_figure(arms, None, [], view.stage)}
    live = [t for t in trials if not t.user_attrs.get(REQUEUED)]
    baselines = [t for t in live if BASELINE in t.user_attrs]
    searched = [t for t in live if BASELINE not in t.user_attrs]
    complete = [t for t in searched if t.state == TrialState.COMPLETE]
    maximise = study.directions[0] == optuna.study.StudyDirection.MAXIMIZE
    complete.sort(key=_first_value, reverse=maximise)
    best = complete[0] if complete else None
    cloud = [t for t in searched if t is not best and t.state != TrialState.RUNNING]
    done = [t for t in baselines if t.state == TrialState.COMPLETE]
    labelled = [(trial_label(t.user_attrs, t.number), t) for t in done]
    schemes = [(label, (t.user_attrs.get(INIT) or {}).get("scheme"), t) for label, t in labelled]
    search = (study.user_attrs.get(STUDY_CONFIG) or {}).get("search") or {}
    base_init = search.get("base_init") or "base init"
    return {
        "curves": curves_figure(labelled, best, cloud, view.stage),
        "profiles": profiles_figure(
            complete, schemes, view.layer_names, view.layer_depths, base_init, view.stage
        ),
        "verdict": verdict_figure(current_verdict(study)),
    }


def publish_study(
    study: optuna.Study,
    workdir: str | None = None,
    tracking_uri: str | None = None,
    mlflow_url: str = MLFLOW_URL,
    figures: bool = True,
) -> Published:
    """Write the study's note, every trial's note and (``figures``) the study's figures where
    they changed. The MLflow store is ``tracking_uri``, else the one the study recorded (under
    ``workdir``). Trials still WAITING get no note."""
    viewer = optuna.load_study(
        study_name=study.study_name,
        storage=study._storage,  # the loaded study's own storage object (no new connection)
        sampler=optuna.samplers.RandomSampler(),
    )
    attrs = viewer.user_attrs
    uri = tracking_uri or (stores.recorded_tracking_uri(viewer, workdir) if workdir else None)
    view = StudyView(
        stage=study_stage(attrs),
        layer_names=tuple(attrs.get(STUDY_LAYER_NAMES) or ()),
        layer_depths=tuple(int(d) for d in attrs.get(STUDY_LAYER_DEPTHS) or ()),
        metric_names=tuple(viewer.metric_names or ()),
        run_link=run_links(uri, attrs.get(STUDY_MLFLOW_PARENT), mlflow_url),
    )
    trials = [t for t in viewer.get_trials(deepcopy=False) if t.state != TrialState.WAITING]
    done = Published()
    related = attrs.get(STUDY_CONFIRMED) or attrs.get(STUDY_COMPARED)
    done.notes += _write_note(viewer, study_note(viewer.study_name, view, related))
    for t in trials:
        done.notes += _write_note(trial_handle(viewer, trial_id(t)), trial_note(t, view))
    if figures:
        done.figures = _write_figures(viewer, study_figures(viewer, trials, view))
    return done


def _studies(storage: optuna.storages.BaseStorage, study: str | None) -> list[str]:
    """``study`` and the studies that confirm or compare it; every study when None."""
    names = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        attrs = summary.user_attrs
        related = (summary.study_name, attrs.get(STUDY_CONFIRMED), attrs.get(STUDY_COMPARED))
        if study is None or study in related:
            names.append(summary.study_name)
    return names


def publish_to_dashboard(
    study: optuna.Study,
    workdir: str | None = None,
    tracking_uri: str | None = None,
    mlflow_url: str = MLFLOW_URL,
) -> Published:
    """Notes and figures of ``study`` and of the studies that confirm or compare it (see
    :func:`publish_study`); called when a study's run ends."""
    done = Published()
    for name in _studies(study._storage, study.study_name):
        loaded = optuna.load_study(study_name=name, storage=study._storage)
        done += publish_study(loaded, workdir, tracking_uri, mlflow_url)
    return done


def publish_storage(
    storage_url: str, study: str | None, tracking_uri: str, mlflow_url: str, figures: bool = True
) -> Published:
    """Publish ``study`` and the studies that confirm or compare it (every study of the
    storage when ``study`` is None), linking runs of the one MLflow store served."""
    storage = stores.open_storage(storage_url)
    done = Published()
    for name in _studies(storage, study):
        loaded = optuna.load_study(study_name=name, storage=storage)
        done += publish_study(loaded, None, tracking_uri, mlflow_url, figures)
    return done
