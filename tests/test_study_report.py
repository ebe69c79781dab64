"""The study report: the emergence-line fit, a real tiny study reported end to end (files,
ranks, fits, importances), the CLI command, and reports of studies with too few trials."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from optuna.trial import TrialState

from initsearch import contract
from initsearch.cli import main
from initsearch.report import build_study_report, fit_emergence, write_study_report
from initsearch.report.importance import importance_trials
from initsearch.run.pool import InlinePool
from initsearch.search.study import study_driver
from tests.reportutil import study_with, trial
from tests.studyutil import tiny_study

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPORT_FILES = ("index.html", "scale_profile.png", "optimization_history.png", "report.json")


# ---- the fit ---------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [1.3, 0.8])
def test_fit_recovers_alpha_exactly_on_the_rule(alpha):
    depths = list(range(7))
    pivot = max(depths) // 2
    scales = [2.0 * alpha ** (d - pivot) for d in depths]
    fit = fit_emergence(scales, depths)
    assert fit.pivot == pivot
    assert fit.alpha == pytest.approx(alpha, rel=1e-12)
    assert fit.intercept == pytest.approx(math.log(2.0), abs=1e-12)
    assert fit.r2 == pytest.approx(1.0, abs=1e-12)
    assert fit.rms_residual == pytest.approx(0.0, abs=1e-12)
    assert fit.alpha_ci95[0] == pytest.approx(alpha) and fit.alpha_ci95[1] == pytest.approx(alpha)
    assert fit.line(depths) == pytest.approx(scales, rel=1e-12)


def test_fit_handles_shared_depths_and_an_explicit_pivot():
    # q, k, v side by side share a depth (as in the transformer)
    depths = [0, 1, 1, 1, 2, 3, 4]
    scales = [1.3 ** (d - 1.5) for d in depths]
    fit = fit_emergence(scales, depths, pivot=1.5)
    assert fit.alpha == pytest.approx(1.3) and fit.intercept == pytest.approx(0.0, abs=1e-12)
    # default pivot 4 // 2 = 2 moves the intercept, not the slope
    fit2 = fit_emergence(scales, depths)
    assert fit2.pivot == 2 and fit2.alpha == pytest.approx(1.3)
    assert fit2.intercept == pytest.approx(0.5 * math.log(1.3))


def test_fit_of_a_noisy_profile_matches_least_squares():
    rng = np.random.default_rng(0)
    depths = np.arange(9)
    logs = 0.2 * (depths - 4) + rng.normal(0, 0.3, size=9)
    fit = fit_emergence(np.exp(logs).tolist(), depths.tolist())
    slope, intercept = np.polyfit(depths - 4, logs, 1)
    assert fit.log_alpha == pytest.approx(slope) and fit.intercept == pytest.approx(intercept)
    r2 = 1 - np.sum((logs - (slope * (depths - 4) + intercept)) ** 2) / np.sum(
        (logs - logs.mean()) ** 2
    )
    assert fit.r2 == pytest.approx(r2)
    assert 0 < fit.r2 < 1
    assert fit.alpha_ci95[0] < fit.alpha < fit.alpha_ci95[1]


def test_fit_flat_profile_and_errors():
    flat = fit_emergence([1.0, 1.0, 1.0], [0, 1, 2])
    assert flat.alpha == 1.0 and flat.r2 == 1.0 and flat.p_value is None
    with pytest.raises(ValueError, match="positive"):
        fit_emergence([1.0, 0.0, 2.0], [0, 1, 2])
    with pytest.raises(ValueError, match="one depth"):
        fit_emergence([1.0, 2.0], [3, 3])
    with pytest.raises(ValueError, match="depths"):
        fit_emergence([1.0, 2.0], [0, 1, 2])


# ---- a real tiny study -----------------------------------------------------------------
@pytest.fixture(scope="module")
def one_thread():
    """Two shared cores: torch's default two threads only contend (3x slower measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def reported(tmp_path_factory, one_thread):
    workdir = tmp_path_factory.mktemp("runs")
    # median pruner: trials report intermediate values (Optuna's intermediate plot has data)
    cfg = tiny_study(workdir, "rep", budget={"trials": 8}, pruner={"name": "median"})
    driver = study_driver(cfg, InlinePool())
    driver.run()
    out = workdir / "out"
    report = write_study_report(cfg, driver.study, out)
    return cfg, driver.study, report, out, workdir


def test_report_writes_valid_files(reported):
    _, _, report, out, _ = reported
    for name in REPORT_FILES:
        assert (out / name).stat().st_size > 0, name
    from matplotlib.image import imread

    for name in ("scale_profile.png", "optimization_history.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE
        image = imread(out / name)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 500
        assert image[..., :3].std() > 0.05  # not a blank canvas
    html = (out / "index.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert html.count("Plotly.newPlot") == 4  # curves, profiles, importances, emergence
    assert "emergence(alpha=1.1)" in html  # the baselines are named
    # intermediate values (a pruned study) draw the curves when no curve attr is stored
    assert "validation accuracy" in html
    stored = json.loads((out / "report.json").read_text())
    assert stored["best_searched"]["fit"]["alpha"] == report["best_searched"]["fit"]["alpha"]
    assert set(stored["files"]) >= {"profile_png", "history_png", "json", "index_html"}


def test_report_ranks_match_the_trials_values(reported):
    _, study, _, out, _ = reported
    stored = json.loads((out / "report.json").read_text())
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    values = {t.number: t.value for t in complete}
    assert stored["counts"]["complete"] == len(complete) >= 5
    for row in stored["trials"]:
        if row["number"] in values:
            v = values[row["number"]]
            assert row["value"] == v
            assert row["rank"] == 1 + sum(w > v for w in values.values())
        else:
            assert row["value"] is None and row["rank"] is None
    names = [b["name"] for b in stored["baselines"]]
    assert names == ["kaiming", "xavier", "emergence(alpha=1.1)"]
    by_number = {r["number"]: r for r in stored["trials"]}
    for b in stored["baselines"]:
        if b["state"] == "COMPLETE":
            assert b["rank"] == by_number[b["trial"]]["rank"]
            assert b["n_complete"] == len(complete)
    searched = {
        n: v for n, v in values.items() if contract.BASELINE not in study.trials[n].user_attrs
    }
    best = stored["best_searched"]
    assert best["value"] == max(searched.values())
    top = [e["value"] for e in stored["top_k"]["trials"]]
    assert top == sorted(searched.values(), reverse=True)[:5]
    comparison = stored["comparison"]
    done = [b for b in stored["baselines"] if b["value"] is not None]
    assert comparison["beats_all_baselines"] == all(best["value"] > b["value"] for b in done)


def test_report_fits_are_those_of_the_stored_scales(reported):
    _, study, _, out, _ = reported
    stored = json.loads((out / "report.json").read_text())
    depths = study.user_attrs[contract.STUDY_LAYER_DEPTHS]
    assert stored["layers"]["pivot"] == max(depths) // 2
    for entry in stored["top_k"]["trials"]:
        scales = study.trials[entry["trial"]].user_attrs[contract.APPLIED_SCALES]
        assert entry["scales"] == scales
        assert entry["fit"]["alpha"] == pytest.approx(fit_emergence(scales, depths).alpha)
    # the emergence baseline's profile is the rule itself: the fit gives back its alpha
    rule = next(b for b in stored["baselines"] if b["scheme"] == "emergence")
    assert rule["alpha"] == 1.1
    assert rule["fit"]["alpha"] == pytest.approx(1.1) and rule["fit"]["r2"] == pytest.approx(1.0)
    kaiming = next(b for b in stored["baselines"] if b["name"] == "kaiming")
    assert kaiming["fit"] is None  # a flat profile has no line to speak of


def test_report_importances_cover_the_searched_parameters(reported):
    _, study, report, _, _ = reported
    imp = report["importances"]
    kept, names = importance_trials(study)
    assert imp["n_trials"] == len(kept) and imp["params"] == names
    layers = {"log_scale_00_hidden.0", "log_scale_01_hidden.1", "log_scale_02_head"}
    assert set(imp["values"]) == set(names) == layers
    assert sum(imp["values"].values()) == pytest.approx(1.0)
    # xavier was enqueued without parameters: it is not among the importance trials
    xavier = next(t for t in study.trials if t.user_attrs.get(contract.BASELINE) == "xavier")
    assert xavier.number not in {t.number for t in kept}


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_cli_report_prints_the_fitted_alpha(reported, capsys, tmp_path):
    _, _, report, _, workdir = reported
    code, out, err = run_main(
        capsys, "study", "report", "rep", "--workdir", str(workdir), "--out", str(tmp_path)
    )
    assert code == 0, err
    alpha = report["best_searched"]["fit"]["alpha"]
    assert f"alpha = {alpha:.4g}" in out
    assert "kaiming" in out and "report.json" in out
    assert json.loads((tmp_path / "report.json").read_text())["study"] == "rep"


def test_cli_report_default_folder_is_under_the_workdir(reported, capsys):
    _, _, _, _, workdir = reported
    code, out, err = run_main(capsys, "study", "report", "rep", "--workdir", str(workdir))
    assert code == 0, err
    assert (workdir / "rep" / "report" / "report.json").stat().st_size > 0
    assert f"open: {workdir / 'rep' / 'report' / 'index.html'}" in out  # the page to open
    # the page, with plotly.js once at the runs folder's root, not beside it
    page = (workdir / "rep" / "report" / "index.html").read_text()
    assert '<script src="../../_static/plotly.min.js"></script>' in page
    assert (workdir / "_static" / "plotly.min.js").is_file()
    assert not (workdir / "rep" / "report" / "plotly.min.js").exists()


def test_cli_report_of_a_missing_study_exits_2(capsys, tmp_path):
    code, out, err = run_main(capsys, "study", "report", "nope", "--workdir", str(tmp_path))
    assert code == 2
    assert "no study 'nope'" in err and "initsearch study start" in err
    assert "Traceback" not in err + out


# ---- studies with too little in them (hand-made, in memory: tests/reportutil.py) ------
def test_report_of_an_empty_study_writes_json_and_says_why(tmp_path):
    cfg = tiny_study(tmp_path)
    report = write_study_report(cfg, study_with([]), tmp_path / "out")
    assert report["best_searched"] is None
    assert "no completed searched trial" in report["comparison"]["summary"]
    assert "skipped" in report["importances"]
    assert any("scale_profile.png not written" in n for n in report["notes"])
    assert json.loads((tmp_path / "out" / "report.json").read_text())["counts"]["trials"] == 0


def test_too_few_trials_for_importances_and_gradinit_profile(tmp_path):
    cfg = tiny_study(tmp_path)
    study = study_with(
        [
            trial(0.6, [0.5, 1.0, 2.0]),
            trial(0.7, [0.8, 1.0, 1.25]),
            trial(0.65, [1.2, 0.9, 1.1], baseline="gradinit", scheme="gradinit"),
        ]
    )
    report = build_study_report(cfg, study)
    assert "needs at least 3 completed trials" in report["importances"]["skipped"]
    assert report["importances"]["n_trials"] == 2
    best = report["best_searched"]
    assert best["value"] == 0.7 and best["rank"] == 1
    assert best["fit"]["alpha"] == pytest.approx(1.25) and best["fit"]["r2"] == pytest.approx(1.0)
    gradinit = report["gradinit"]
    assert gradinit["rank"] == 2 and gradinit["n_complete"] == 3
    assert gradinit["fit"]["alpha"] == pytest.approx(
        fit_emergence([1.2, 0.9, 1.1], [0, 1, 2]).alpha
    )
    written = write_study_report(cfg, study, tmp_path / "out")
    html = (tmp_path / "out" / "index.html").read_text()
    assert "Importances not computed: needs at least 3 completed trials" in html
    # the validation curves stored on the trials are drawn
    assert 'id="curves-plot"' in html and written["files"]["index_html"].endswith("index.html")
    assert (tmp_path / "out" / "scale_profile.png").read_bytes()[:8] == PNG_SIGNATURE
