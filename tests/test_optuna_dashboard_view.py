"""What a researcher reads in optuna-dashboard (initsearch.dashboard.publish, notes, figures).

Fast tests build notes and figures from trials made in memory; the browser tests serve a real
tiny study with ``initsearch dashboard`` (the fixtures of tests/test_dashboard.py) and find, in
headless Chromium, a trial's note with its name and MLflow link and the study's own figures.
Screenshots land in ``test-artifacts/``.
"""

from __future__ import annotations

import time

import optuna
import pytest
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from optuna_dashboard import get_note, save_note

from initsearch import contract
from initsearch.dashboard.figures import curves_figure, profiles_figure, verdict_figure
from initsearch.dashboard.notes import StudyView, study_note, trial_note
from initsearch.dashboard.publish import FIGURE_IDS, NOTE_MARK, publish_study
from initsearch.labels import STAGE_COMPARISON, STAGE_SEARCH
from initsearch.run.optuna_adapter import trial_handle, trial_id
from tests.browser import browser, screenshot, wait_for, wait_for_text  # noqa: F401
from tests.studyutil import tiny_study
from tests.test_dashboard import PAGE_TIMEOUT_S, served, study  # noqa: F401

NAMES, DEPTHS = ("hidden.0", "hidden.1", "head"), (0, 1, 2)
RUN = "0123456789abcdef0123456789abcdef"


def view(stage: str = STAGE_SEARCH) -> StudyView:
    return StudyView(stage, NAMES, DEPTHS, ("val_accuracy",), lambda r: f"http://ui/#/runs/{r}")


def trial(number: int, value: float | None, **attrs) -> optuna.trial.FrozenTrial:
    state = TrialState.COMPLETE if value is not None else TrialState.PRUNED
    made = create_trial(state=state, value=value, user_attrs=attrs)
    made.number = number
    return made


def searched(number: int, value: float | None, scales: list[float], **attrs):
    init = {"scheme": "kaiming", "scales": scales}
    curve = [0.1 * (i + 1) * (value or 0.5) for i in range(4)]
    return trial(
        number,
        value,
        **{contract.INIT: init, contract.APPLIED_SCALES: scales},
        **{contract.VAL_ACCURACY_CURVE: curve, contract.MLFLOW_RUN_ID: RUN},
        **attrs,
    )


# ---- fast: notes, figures, publication --------------------------------------------------


def test_a_trial_note_names_the_trial_tables_its_layers_and_links_its_run():
    rule = {"scheme": "emergence", "options": {"alpha": 1.1, "base": "kaiming"}}
    baseline = trial(
        2,
        0.93,
        **{contract.BASELINE: "emergence(alpha=1.1)", contract.INIT: rule},
        **{contract.APPLIED_SCALES: [0.909, 1.0, 1.1], contract.MLFLOW_RUN_ID: RUN},
    )
    note = trial_note(baseline, view())
    assert note.startswith("### emergence(alpha=1.1)\ntrial 2 · baseline")
    assert "`emergence` (alpha=1.1, base=kaiming)" in note
    assert "val_accuracy = 0.93" in note
    assert f"[MLflow run {RUN[:8]}](http://ui/#/runs/{RUN})" in note
    # the spec asked for no scales (all ones); the rule applied its own
    assert "| 0 | `hidden.0` | 0 | 1 | 0.909 |" in note and "| 2 | `head` | 2 | 1 | 1.1 |" in note
    pruned = searched(7, None, [0.5, 2.0, 1.0], **{contract.REASON: "pruned at epoch 3"})
    note = trial_note(pruned, view())
    assert note.startswith("### searched #7") and "**PRUNED**: pruned at epoch 3" in note
    assert "| 1 | `hidden.1` | 1 | 2 | 2 |" in note
    pair = trial(4, 0.9, **{contract.SCHEME: "xavier", contract.SEED: 3})
    assert trial_note(pair, view(STAGE_COMPARISON)).startswith("### compare: xavier seed 3")
    unlinked = StudyView(STAGE_SEARCH, NAMES, DEPTHS, (), lambda r: None)
    assert f"MLflow run `{RUN}`" in trial_note(pruned, unlinked)


def test_a_grid_study_note_says_which_panels_do_not_apply():
    note = study_note("cmp", view(STAGE_COMPARISON), related="quick")
    assert "comparison of `quick`" in note and "best value" in note and "importance" in note
    assert "searched #14" in study_note("quick", view())


def test_figures_draw_best_baselines_cloud_profiles_and_the_verdict():
    best = searched(5, 0.95, [0.8, 1.2, 1.5])
    other = searched(6, 0.5, [1.0, 1.0, 2.0])
    kaiming = searched(0, 0.9, [1.0, 1.0, 1.0], **{contract.BASELINE: "kaiming"})
    curves = curves_figure([("kaiming", kaiming)], best, [other], STAGE_SEARCH)
    names = [t.name for t in curves.data]
    assert names == ["other searched", "kaiming", "best: searched #5"]
    assert curves.data[0].line.color.startswith("rgba(")  # the cloud is faint
    profiles = profiles_figure([best, other], [], NAMES, DEPTHS, "kaiming", STAGE_SEARCH)
    names = [t.name for t in profiles.data]
    assert names[:2] == ["kaiming (flat)", "best: searched #5"]
    assert names[2].startswith("emergence fit to best (alpha=") and names[3] == "searched #6"
    assert list(profiles.data[1].x) == ["0: hidden.0", "1: hidden.1", "2: head"]
    assert profiles.layout.yaxis.type == "log"
    assert verdict_figure(None) is None


def test_the_verdict_table_puts_searched_arms_first_and_marks_significance():
    from initsearch.confirm.verdict import Verdict, VerdictRow

    rows = [
        VerdictRow("kaiming", "baseline", 3, 0.91, 0.9, 0.92, 0.9),
        VerdictRow("searched#1", "searched", 3, 0.95, 0.94, 0.96, 0.95, 3, 0.04, 0.02, 0.06,
                   0.01, 0.02, True, "searched"),
    ]  # fmt: skip
    verdict = Verdict("searched-wins", "test_accuracy", True, "kaiming", "searched#1", rows,
                      (1, 2, 3), 3, 0.01, 0.01, 0.01)  # fmt: skip
    table = verdict_figure({"verdict": verdict.to_dict()}).data[0]
    arms, _, _, versus, p = table.cells.values
    assert list(arms) == ["<b>searched#1</b>", "kaiming"]
    assert versus[0] == "+0.040<br>[+0.020, +0.060]" and versus[1] == "best baseline"
    assert p[0] == "0.020 *"


def test_publishing_writes_once_and_keeps_a_note_the_researcher_edited(tmp_path):
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "j.log"))
    )
    one = optuna.create_study(study_name="s", storage=storage, direction="maximize")
    one.set_user_attr(contract.STUDY_LAYER_NAMES, list(NAMES))
    one.set_user_attr(contract.STUDY_LAYER_DEPTHS, list(DEPTHS))
    dist = {"log_scale_00_hidden.0": FloatDistribution(-1, 1)}
    for t in (searched(0, 0.9, [1.0] * 3), searched(1, 0.7, [2.0, 1.0, 1.0])):
        made = create_trial(
            value=t.value,
            params={"log_scale_00_hidden.0": 0.0},
            distributions=dist,
            user_attrs=t.user_attrs,
        )
        one.add_trial(made)
    first = publish_study(one)
    assert (first.notes, first.figures) == (3, 2)  # the study's and two trials'; no verdict
    assert publish_study(one).notes == 0  # nothing changed: nothing written
    handle = trial_handle(one, trial_id(one.trials[1]))
    assert get_note(handle).startswith("### searched #1") and NOTE_MARK in get_note(handle)
    save_note(handle, "my own reading of this trial")
    one.set_user_attr("touched", True)
    publish_study(one)
    assert get_note(handle) == "my own reading of this trial"
    stored = storage.get_study_system_attrs(one._study_id)
    assert any(FIGURE_IDS["curves"] in key for key in stored)


# ---- the browser: the served study -------------------------------------------------------


def _published(served) -> None:  # noqa: F811 - the fixture's value, passed on
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    while not any(line.startswith("Notes and figures:") for line in served.lines):
        if time.monotonic() > deadline:
            pytest.fail(f"no notes written within {PAGE_TIMEOUT_S} s:\n{served.output}")
        time.sleep(0.25)


def test_a_trial_page_shows_its_note_with_its_name_and_mlflow_link(served, study, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    cfg, optuna_study = study
    _published(served)
    emergence = optuna_study.trials[2]
    assert emergence.user_attrs[contract.BASELINE] == "emergence(alpha=1.1)"
    run_id = emergence.user_attrs[contract.MLFLOW_RUN_ID]
    browser.set_window_size(1400, 1400)
    browser.get(f"{served.optuna_url}/trials?numbers={emergence.number}")
    text = wait_for_text(browser, ["emergence(alpha=1.1)", "applied scale", "hidden.1"], 60)
    assert "trial 2 · baseline" in text
    links = [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
    mlflow = f"http://127.0.0.1:{served.mlflow_port}/#/experiments/"
    assert any(h and h.startswith(mlflow) and h.endswith(f"/runs/{run_id}") for h in links)
    screenshot(browser, "optuna-dashboard-trial-note", full_page=True)


def _our_figures_drawn(driver) -> bool:
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, "[id^='user-defined-plot:initsearch'] .main-svg")
    return len(found) >= 2 and found


def test_the_study_page_shows_our_figures(served, study, browser):  # noqa: F811
    cfg, _ = study
    _published(served)
    browser.set_window_size(1400, 1000)
    browser.get(served.optuna_url)
    wait_for(browser, _our_figures_drawn, PAGE_TIMEOUT_S, "the initsearch figures")
    text = wait_for_text(browser, ["Validation curves", "Per-layer scale profiles"], 30)
    assert "best: searched #" in text and "kaiming (flat)" in text
    screenshot(browser, "optuna-dashboard-study-figures", full_page=True)


def test_study_start_leaves_every_trial_a_note_and_the_study_its_figures(tmp_path, capsys):
    import yaml

    from initsearch import stores
    from tests.test_cli_views import run_main

    cfg = tiny_study(tmp_path, "pub", train={"epochs": 1}, budget={"trials": 3})
    path = tmp_path / "pub.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    code, _, err = run_main(capsys, "study", "start", str(path), "--inline", "--no-confirm")
    assert code == 0, err
    url = stores.storage_url(None, tmp_path, "pub")
    done = optuna.load_study(study_name="pub", storage=stores.open_storage(url))
    notes = [get_note(trial_handle(done, trial_id(t))) for t in done.trials]
    assert [n.splitlines()[0] for n in notes] == [
        "### kaiming",
        "### xavier",
        "### emergence(alpha=1.1)",
    ]
    assert all("(http://127.0.0.1:5000/#/experiments/" in n for n in notes)
    assert publish_study(done, str(tmp_path)).figures == 0  # written at the end already
