"""Suites: a tiny suite run end to end in process (comparisons, a search and its confirmation),
resumed with nothing to train, reported, listed, and its findings' tables regenerated; the
suite file's validation; the within-arm rank correlation."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from initsearch.cli.app import app
from initsearch.errors import ConfigError
from initsearch.suite import load_suite, parse_suite, plan_suite, runs_left
from initsearch.suite.document import read
from initsearch.suite.findings import blocks, tables
from initsearch.suite.measure import partial_spearman
from initsearch.suite.tables import markdown

ENV = {"COLUMNS": "200"}
DN = "emergence(alpha=1.2,ref_depth=2)"


def tiny_suite(folder: Path) -> dict:
    return {
        "name": "tiny",
        "workdir": str(folder / "runs"),
        "seeds": 2,
        "defaults": {
            "data": {"name": "digits"},
            "model": {"name": "mlp", "width": 8},
            "train": {"optimizer": "sgd", "lr": 0.05, "epochs": 2, "batch_size": 64},
            "ray": {"pack": 1},
        },
        "schemes": ["kaiming", "zero", "emergence"],
        "alphas": [1.2],
        "arms": {DN: {"scheme": "emergence", "options": {"alpha": 1.2, "ref_depth": 2}}},
        "comparisons": [
            {"name": "d3", "question": "depth", "label": "3", "study": {"model": {"depth": 3}}},
            {
                "name": "d3-bn",
                "question": "depth",
                "label": "3 BN",
                "study": {"model": {"depth": 3, "batch_norm": True}},
            },
            {
                "name": "s3",
                "question": "searched",
                "label": "3 searched",
                "study": {
                    "model": {"depth": 3},
                    "search": {"space": "profile"},
                    "pruner": {"name": "none"},
                    "baselines": {"schemes": ["kaiming", "emergence"], "emergence_alphas": [1.1]},
                },
                "search": {"trials": 4, "seeds_per_trial": 1, "top_k": 2},
            },
        ],
    }


def write(folder: Path, raw: dict) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    folder = tmp_path_factory.mktemp("suite")
    path = write(folder, tiny_suite(folder))
    result = CliRunner().invoke(app, ["suite", "run", str(path), "--inline"], env=ENV)
    assert result.exit_code == 0, result.output
    return folder, path, result.output


def test_a_suite_runs_every_comparison_and_answers_every_question(ran) -> None:
    folder, _, output = ran
    doc = read(folder / "runs" / "tiny" / "report")
    names = [c["name"] for c in doc["comparisons"]]
    assert names == ["d3", "d3-bn", "s3"]
    plain = doc["comparisons"][0]
    arms = [a["name"] for a in plain["arms"]]
    assert arms == ["kaiming", "zero", "emergence(alpha=1.2)", DN]
    assert all(len(a["runs"]) == 2 for a in plain["arms"])
    assert {r["seed"] for a in plain["arms"] for r in a["runs"]} == {1000, 1001}
    # the zero init never learns: flagged, and counted in the table of runs that did not train
    zero = next(a for a in plain["arms"] if a["name"] == "zero")
    assert all(r["no_progress"] for r in zero["runs"])
    found = tables(doc)
    assert found["depth-not-trained"].rows[1][:2] == ["zero", "2/0"]
    assert found["depth-not-trained"].rows[0][1] == ""  # kaiming trained
    # the searched comparison is a study: searched, then confirmed on the suite's seeds
    searched = doc["comparisons"][2]
    assert searched["verdict"]["sentence"]
    assert [s["rank"] for s in searched["searched"]] == [1, 2]
    assert {"searched#1", "searched#2", "kaiming"} <= {a["name"] for a in searched["arms"]}
    assert {"searched-verdict-s3", "searched-profile-s3"} <= set(found)
    verdict = found["searched-verdict-s3"]
    assert verdict.columns[-1] == "did not train"
    assert [row[0] for row in verdict.rows] == [r["arm"] for r in searched["verdict"]["rows"]]
    assert all(
        row[-1] == "none" or "no progress" in row[-1] or "diverged" in row[-1]
        for row in verdict.rows
    )
    # every question has its tables; the report page shows them and links the comparisons
    assert [q["id"] for q in doc["questions"]] == ["depth", "families", "measure", "searched"]
    page = (folder / "runs" / "tiny" / "report" / "index.html").read_text()
    for q in doc["questions"]:
        assert q["title"] in page.replace("&#39;", "'")
    assert "d3/compare/report.html" in page
    assert "wrote" in output and "suite.json" in output


def test_the_rule_moves_the_absolute_measure_but_never_the_relative_one(ran) -> None:
    """A per-layer rescaling of a bias-free ReLU MLP cannot change the scale-free measure:
    the shift table says +0.0 for every rule arm under the relative threshold."""
    folder, _, _ = ran
    found = tables(read(folder / "runs" / "tiny" / "report"))
    relative = found["measure-rule-relative"]
    assert relative.columns[2:] == ["Δ emergence(alpha=1.2)", f"Δ {DN}"]
    for row in relative.rows:
        assert row[2:] == ["+0.0", "+0.0"], row
    predicts = found["measure-predicts"]
    assert [r[0] for r in predicts.rows] == ["3", "3 BN"]


def test_a_second_run_resumes_with_nothing_to_train(ran) -> None:
    folder, path, _ = ran
    suite = load_suite(path)
    assert all(runs_left(item, suite) == 0 for item in plan_suite(suite))
    journal = folder / "runs" / "tiny" / "d3" / "optuna.journal"
    before = journal.stat().st_size
    again = CliRunner().invoke(app, ["suite", "run", str(path), "--inline"], env=ENV)
    assert again.exit_code == 0, again.output
    assert "0 to train" in again.output
    assert journal.stat().st_size == before
    kept = folder / "runs" / "tiny" / "suite.yaml"  # the copy kept for `suite report tiny`
    from_copy = CliRunner().invoke(app, ["suite", "run", str(kept), "--inline"], env=ENV)
    assert from_copy.exit_code == 0, from_copy.output
    assert "0 to train" in from_copy.output
    assert f"initsearch suite run {path}" in read(kept.parent / "report")["command"]


def test_status_list_and_report_by_name(ran) -> None:
    folder, _, _ = ran
    workdir = str(folder / "runs")
    runner = CliRunner()
    status = runner.invoke(app, ["suite", "status", "tiny", "--workdir", workdir], env=ENV)
    assert status.exit_code == 0, status.output
    assert "d3-bn" in status.output and "searched" in status.output
    listed = runner.invoke(app, ["suite", "list", "--workdir", workdir], env=ENV)
    assert "tiny" in listed.output and "index.html" in listed.output
    report = runner.invoke(app, ["suite", "report", "tiny", "--workdir", workdir], env=ENV)
    assert report.exit_code == 0, report.output
    missing = runner.invoke(app, ["suite", "status", "nope", "--workdir", workdir], env=ENV)
    assert isinstance(missing.exception, ConfigError)  # the command line exits 2 with it
    assert "suite list" in str(missing.exception)


def test_findings_tables_are_printed_and_rewritten_from_suite_json(ran, tmp_path: Path) -> None:
    folder, _, _ = ran
    doc_json = folder / "runs" / "tiny" / "report" / "suite.json"
    runner = CliRunner()
    printed = runner.invoke(app, ["suite", "findings", str(doc_json)], env=ENV)
    assert printed.exit_code == 0, printed.output
    found = tables(json.loads(doc_json.read_text()))
    assert markdown(found["depth-test_accuracy"]) in printed.output
    # a document with a stale block is rewritten to the command's tables, and stays so
    page = tmp_path / "findings.md"
    page.write_text(
        "# Findings\n\nprose\n\n<!-- suite-table: depth-test_accuracy -->\nold numbers\n"
        "<!-- /suite-table -->\n\nmore prose\n<!-- suite-table: measure-predicts -->\n"
        "<!-- /suite-table -->\nlast words\n"
    )
    updated = runner.invoke(app, ["suite", "findings", str(doc_json), "--update", str(page)])
    assert updated.exit_code == 0, updated.output
    expected = {k: markdown(found[k]) for k in ("depth-test_accuracy", "measure-predicts")}
    assert blocks(page.read_text()) == expected  # the stale block and the new, empty one
    assert all(words in page.read_text() for words in ("prose", "more prose", "last words"))
    drawn = runner.invoke(
        app, ["suite", "findings", str(doc_json), "--figures", str(tmp_path / "figs")]
    )
    assert drawn.exit_code == 0, drawn.output
    pngs = sorted(p.name for p in (tmp_path / "figs").iterdir())
    assert pngs == ["depth.png", "profile-s3.png"]
    assert (tmp_path / "figs" / "depth.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.write_text("<!-- suite-table: no-such-table -->\nx\n<!-- /suite-table -->\n")
    bad = runner.invoke(app, ["suite", "findings", str(doc_json), "--update", str(page)])
    assert isinstance(bad.exception, ConfigError) and "no-such-table" in str(bad.exception)


def test_bad_suites_name_the_problem(tmp_path: Path) -> None:
    raw = tiny_suite(tmp_path)
    raw["comparisons"].append(dict(raw["comparisons"][0]))
    with pytest.raises(ConfigError, match="unique; repeated: d3"):
        parse_suite(raw, "x")
    raw = tiny_suite(tmp_path)
    raw["comparisons"][1]["study"] = {"model": {"depthh": 3}}
    with pytest.raises(ConfigError, match=r"comparison d3-bn.*model.depthh"):
        parse_suite(raw, "x")
    raw = tiny_suite(tmp_path)
    raw["first_seed"] = 0
    with pytest.raises(ConfigError, match="overlaps the search seeds of s3"):
        parse_suite(raw, "x")
    with pytest.raises(ConfigError, match="does not exist"):
        load_suite(tmp_path / "missing.yaml")


def test_the_shipped_suites_are_valid() -> None:
    root = Path(__file__).resolve().parents[1] / "suites"
    main = load_suite(root / "emergence.yaml")
    assert main.seeds >= 10
    assert {c.question for c in main.comparisons} == {"depth", "families", "searched"}
    gpu = load_suite(root / "emergence_gpu.yaml")
    assert gpu.seeds >= 10
    budget = load_suite(root / "gradinit_iterations.yaml")
    assert budget.seeds == main.seeds and budget.first_seed == main.first_seed
    # the check runs on the main suite's settings: its MLPs at the main suite's GradInit budget
    iters = [
        item.study.baselines.options["gradinit"]["iters"]
        for item in plan_suite(budget)
        if item.study.model.name == "mlp"
    ]
    assert iters and set(iters) == {100}


def test_within_arm_rank_correlation_is_the_partial_correlation_given_the_arm() -> None:
    rng = np.random.default_rng(0)
    groups = [g for g in "abc" for _ in range(12)]
    offset = {"a": 0.0, "b": 5.0, "c": -5.0}
    x = [offset[g] + rng.normal() for g in groups]
    y = [
        -3 * offset[g] + xi - offset[g] + 0.5 * rng.normal()
        for g, xi in zip(groups, x, strict=True)
    ]
    found = partial_spearman(x, y, groups)
    # the same number from a regression of the ranks on the arms' indicators
    from scipy import stats

    rx, ry = stats.rankdata(x), stats.rankdata(y)
    design = np.array([[g == k for k in "abc"] for g in groups], dtype=float)
    res_x = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    res_y = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    assert math.isclose(found.partial, float(np.corrcoef(res_x, res_y)[0, 1]), abs_tol=1e-12)
    assert found.partial > 0.5 and found.p < 1e-4
    assert found.rho < 0  # across arms the relation is reversed: pooling would mislead
    assert partial_spearman([1, 2], [1, 2], ["a", "a"]).partial is None


def test_a_suite_stopped_before_its_confirmation_reports_what_is_missing(tmp_path: Path) -> None:
    """The search finished, the confirmation never ran (a suite interrupted there): the
    report says how many runs are left instead of judging an empty confirmation."""
    import optuna

    from initsearch.run.pool import InlinePool
    from initsearch.search.study import study_driver
    from initsearch.suite.document import build

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    raw = tiny_suite(tmp_path)
    raw["comparisons"] = [raw["comparisons"][2]]
    raw["defaults"]["train"]["epochs"] = 1
    suite = parse_suite(raw, "x")
    [item] = plan_suite(suite)
    study_driver(item.study, InlinePool()).run()
    left = runs_left(item, suite)
    assert left == 4 * 2  # kaiming, emergence(alpha=1.1) and the top 2, on 2 seeds
    doc = build(suite, [item], "x")
    [searched] = doc["comparisons"]
    assert "verdict" not in searched
    assert (
        searched["verdict_note"]
        == f"confirmation unfinished ({left} runs left): run the suite again"
    )
    assert tables(doc) == {}  # nothing to tabulate yet
    assert searched["verdict_note"] in doc["questions"][3]["answer"]


def test_a_suite_without_a_rule_arm_counts_every_arm_against_kaiming() -> None:
    """A suite about something else (GradInit's budget) is summarised over its own arms, not
    as '0 of 0' rule tests."""
    from initsearch.suite.questions import answer

    def stat(arm: str, metric: str, diff: float | None, significant: bool) -> dict:
        vs = None if diff is None else {"diff": diff, "significant": significant}
        return {"scheme": arm, "metric": metric, "vs_reference": vs}

    arms = ("kaiming", "gradinit", "gradinit(iters=390)")
    comparison = {
        "arms": [
            {"name": a, "init": {"scheme": a.split("(")[0]}, "runs": [{"no_progress": i == 2}]}
            for i, a in enumerate(arms)
        ],
        "stats": [
            stat(a, m, d, sig)
            for m in ("first_epoch_test_accuracy", "test_accuracy")
            for a, d, sig in (
                ("kaiming", None, False),
                (arms[1], -0.05, True),
                (arms[2], 0.01, False),
            )
        ],
    }
    text = answer("depth", [comparison])
    assert "the arms (no rule arm here) beat Kaiming significantly in 0 of 2" in text
    assert "lost in 1" in text and text.endswith("1 run made no progress.")
