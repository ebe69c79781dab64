"""The comparison report from a constructed ``compare.json``-shaped dict: figures, table,
escaping, errors; and the written file opened in headless Chromium (plots drawn, names shown).

The dict is built here from synthetic curves (the comparison command is tested elsewhere), so
every expected figure below is computed from the same dict the report reads. Each run has test
curves and, apart from them, different validation curves: what is drawn must be the test ones.
"""

from __future__ import annotations

import copy
import json
import math
import re
from html.parser import HTMLParser

import numpy as np
import pytest
from plotly.offline import get_plotlyjs
from scipy import stats

from initsearch.compare.metrics import ACCURACY_CURVE, LABELS, LOSS_CURVE
from initsearch.errors import ConfigError
from initsearch.report.compare_curves import convergence_figure, mean_band
from initsearch.report.compare_plots import emergence_figure, profile_figure, scheme_colors
from initsearch.report.html_report import render_compare_report, write_compare_report
from initsearch.report.precision import decimals_for, fixed
from tests.browser import browser, screenshot, wait_for, wait_for_text  # noqa: F401

SEEDS = [0, 1, 2, 3]
EPOCHS = 5
LAYERS = ["fc0", "fc1", "fc2", "head"]
# name -> (init, final accuracy level, convergence rate)
SCHEMES = {
    "kaiming": ({"scheme": "kaiming", "scales": None, "options": {}}, 0.90, 0.6),
    "xavier": ({"scheme": "xavier", "scales": None, "options": {}}, 0.86, 0.5),
    "emergence(alpha=1.1)": (
        {"scheme": "emergence", "scales": None, "options": {"alpha": 1.1}},
        0.93,
        0.9,
    ),
    "gradinit": ({"scheme": "gradinit", "scales": None, "options": {}}, 0.91, 0.7),
    "searched-best": (
        {"scheme": "kaiming", "scales": [1.3, 1.1, 0.9, 0.7], "options": {}},
        0.94,
        1.0,
    ),
}
METRICS = ("first_epoch_test_accuracy", "test_accuracy", "test_loss")
CORRELATED = ("first_epoch_test_accuracy", "test_accuracy")
BAD_REASON = "diverged: loss <script>alert(1)</script> at epoch 3"


def _run(name: str, seed: int, rng: np.random.Generator) -> dict:
    init, level, rate = SCHEMES[name]
    epochs = np.arange(1, EPOCHS + 1)
    acc = level * (1 - np.exp(-rate * epochs)) + rng.normal(0, 0.01, EPOCHS)
    loss = 2.3 * np.exp(-rate * epochs) + 0.2 + rng.normal(0, 0.01, EPOCHS)
    status, reason = "completed", None
    acc_l, loss_l = acc.tolist(), loss.tolist()
    val_acc, val_loss = (acc + 0.03).tolist(), (loss - 0.05).tolist()  # the validation split
    if name == "xavier" and seed == 3:  # one diverged run: a shorter curve ending in nulls
        status, reason = "diverged", BAD_REASON
        acc_l, loss_l = acc_l[:2] + [None], loss_l[:2] + [None]
        val_acc, val_loss = val_acc[:2] + [None], val_loss[:2] + [None]
    if init["scales"] is not None:
        scales = list(init["scales"])
    elif init["scheme"] == "emergence":
        scales = [1.1 ** (i - 1.5) for i in range(len(LAYERS))]
    elif init["scheme"] == "gradinit":  # data-dependent: differs by seed
        scales = [float(s) for s in np.exp(rng.normal(0, 0.2, len(LAYERS)))]
    else:
        scales = [1.0] * len(LAYERS)
    return {
        "seed": seed,
        "status": status,
        "reason": reason,
        "summary": {
            "first_epoch_test_accuracy": acc_l[0],
            "test_accuracy": acc_l[-1],
            "test_loss": loss_l[-1],
            "first_epoch_accuracy": val_acc[0],
            "final_accuracy": val_acc[-1],
            "best_accuracy": max(v for v in val_acc if v is not None),
            "final_val_loss": val_loss[-1],
            "area_under_loss": None,
            "epochs_to_target": None,
            "seconds_to_target": None,
            "train_seconds": 1.0,
        },
        "curve": {
            "test_accuracy": acc_l,
            "test_loss": loss_l,
            "val_accuracy": val_acc,
            "val_loss": val_loss,
            "epoch_train_loss": loss_l,
        },
        "scales": scales,
        "log_emergence": float(rng.normal(-1.0 + rate, 0.1)),
        "dead_fraction": 0.3,
    }


def _stat(scheme: dict, ref: dict, metric: str, reference: bool) -> dict:
    values = [r["summary"][metric] for r in scheme["runs"]]
    finite = [v for v in values if v is not None]
    n = len(finite)
    mean = float(np.mean(finite))
    half = stats.t.ppf(0.975, n - 1) * np.std(finite, ddof=1) / math.sqrt(n)
    row = {
        "scheme": scheme["name"],
        "metric": metric,
        "n": n,
        "mean": mean,
        "ci_low": mean - half,
        "ci_high": mean + half,
        "diverged": sum(r["status"] == "diverged" for r in scheme["runs"]),
        "vs_reference": None,
    }
    if not reference:
        pairs = [
            (a["summary"][metric], b["summary"][metric])
            for a, b in zip(scheme["runs"], ref["runs"], strict=True)
            if a["summary"][metric] is not None and b["summary"][metric] is not None
        ]
        diffs = np.array([a - b for a, b in pairs])
        test = stats.ttest_rel([a for a, _ in pairs], [b for _, b in pairs])
        dh = stats.t.ppf(0.975, len(diffs) - 1) * diffs.std(ddof=1) / math.sqrt(len(diffs))
        p_adj = min(1.0, float(test.pvalue) * 4)
        row["vs_reference"] = {
            "diff": float(diffs.mean()),
            "ci_low": float(diffs.mean() - dh),
            "ci_high": float(diffs.mean() + dh),
            "test": "paired t",
            "p": float(test.pvalue),
            "p_adjusted": p_adj,
            "effect_size": float(diffs.mean() / diffs.std(ddof=1)),
            "significant": p_adj < 0.05,
        }
    return row


def make_compare(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    schemes = [
        {"name": name, "init": copy.deepcopy(init), "runs": [_run(name, s, rng) for s in SEEDS]}
        for name, (init, _, _) in SCHEMES.items()
    ]
    ref = schemes[0]
    stat_rows = [_stat(s, ref, m, s is ref) for m in METRICS for s in schemes]
    runs = [r for s in schemes for r in s["runs"]]
    correlations = []
    for y in CORRELATED:
        pts = [(r["log_emergence"], r["summary"][y]) for r in runs if r["summary"][y] is not None]
        res = stats.spearmanr([p[0] for p in pts], [p[1] for p in pts])
        correlations.append(
            {
                "x": "log_emergence",
                "y": y,
                "n": len(pts),
                "spearman_r": float(res.statistic),
                "p": float(res.pvalue),
            }
        )
    return {
        "study": "tiny-compare",
        "seeds": SEEDS,
        "reference": "kaiming",
        "correction": "holm",
        "target_accuracy": 0.8,
        "layer_names": LAYERS,
        "layer_depths": [0, 1, 2, 3],
        "schemes": schemes,
        "stats": stat_rows,
        "correlations": correlations,
    }


class _Tables(HTMLParser):
    """Rows of the stats tables: metric -> scheme -> cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, dict[str, list[str]]] = {}
        self.metric: str | None = None
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "data-metric" in attrs:
            self.metric = attrs["data-metric"]
            self.tables[self.metric] = {}
        elif tag == "tr" and self.metric:
            self.row = []
        elif tag == "td" and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row.append("".join(self.cell).strip())
            self.cell = None
        elif tag == "tr" and self.row:
            self.tables[self.metric][self.row[0]] = self.row
            self.row = None
        elif tag == "table":
            self.metric = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def test_mean_band_is_the_student_t_interval_over_the_finite_values():
    curves = [[1.0, 2.0, 4.0], [3.0, None], [5.0, float("nan")], []]
    epochs, mean, low, high, n = mean_band(curves)
    assert epochs == [1, 2, 3] and n == [3, 1, 1]
    lo, hi = stats.t.interval(0.95, 2, loc=3.0, scale=stats.sem([1.0, 3.0, 5.0]))
    assert mean[0] == pytest.approx(3.0)
    assert (low[0], high[0]) == (pytest.approx(lo), pytest.approx(hi))
    assert low[1] == high[1] == mean[1] == 2.0  # one value: no band
    assert mean[2] == 4.0


def test_figures_draw_every_scheme_and_only_the_profiled_ones():
    data = make_compare()
    colors = scheme_colors(s["name"] for s in data["schemes"])
    for key in (ACCURACY_CURVE, LOSS_CURVE):
        conv = convergence_figure(data, colors, key)
        # small multiples: one panel per scheme, titled by it, its own line in its colour...
        assert [a.text for a in conv.layout.annotations] == [
            f"{n} (reference)" if n == "kaiming" else n for n in SCHEMES
        ]
        lines = [t for t in conv.data if t.mode == "lines+markers"]
        assert [t.name for t in lines] == list(SCHEMES)
        assert [t.line.color for t in lines] == [colors[n] for n in SCHEMES]
        # ...over the reference's mean in grey in every other panel
        grey = [t for t in conv.data if t.mode == "lines" and t.fill is None]
        assert len(grey) == len(SCHEMES) - 1 and {t.name for t in grey} == {"kaiming"}
        assert {t.xaxis for t in grey} == {t.xaxis for t in lines[1:]}
    conv = convergence_figure(data, colors, ACCURACY_CURVE)
    xavier_acc = next(t for t in conv.data if t.name == "xavier" and t.mode == "lines+markers")
    assert list(xavier_acc.x) == [1, 2, 3, 4, 5]
    assert [c[0] for c in xavier_acc.customdata] == [4, 4, 3, 3, 3]  # the diverged run stops
    profile = profile_figure(data, colors)
    drawn = sorted(t.name for t in profile.data)
    assert drawn == ["base init (1)", "emergence(alpha=1.1)", "gradinit", "searched-best"]
    grad = next(t for t in profile.data if t.name == "gradinit")
    runs = next(s for s in data["schemes"] if s["name"] == "gradinit")["runs"]
    geo0 = math.exp(np.mean([math.log(r["scales"][0]) for r in runs]))
    assert grad.y[0] == pytest.approx(geo0)
    assert list(grad.x) == LAYERS
    emerg = emergence_figure(data, colors)
    titles = [a.text for a in emerg.layout.annotations]
    r_first = data["correlations"][0]["spearman_r"]
    assert f"Spearman r = {r_first:.2f}" in titles[0] and "First-epoch" in titles[0]
    points = sum(len(t.x) for t in emerg.data if t.xaxis == "x")
    assert points == len(SCHEMES) * len(SEEDS)  # every run has a first-epoch accuracy
    assert sum(len(t.x) for t in emerg.data if t.xaxis == "x2") == points - 1  # diverged: null


def test_report_table_shows_means_differences_and_verdicts(tmp_path):
    data = make_compare()
    path = tmp_path / "compare.json"
    path.write_text(json.dumps(data))
    out = write_compare_report(path, tmp_path / "out" / "report.html")
    html = out.read_text()
    parser = _Tables()
    parser.feed(html)
    assert set(parser.tables) == set(METRICS)
    for row in data["stats"]:
        cells = parser.tables[row["metric"]][row["scheme"]]
        same = [r for r in data["stats"] if r["metric"] == row["metric"]]
        d = decimals_for(r[k] for r in same for k in ("mean", "ci_low", "ci_high"))
        assert cells[2] == fixed(row["mean"], d)
        assert cells[-1] == str(row["diverged"])
        vs = row["vs_reference"]
        if vs is None:
            assert cells[4] == ""
            continue
        assert cells[4] == fixed(vs["diff"], d, signed=True)
        higher_better = row["metric"] != "test_loss"
        expected = ""
        if vs["significant"]:
            expected = "better" if (vs["diff"] > 0) == higher_better else "worse"
        assert cells[10] == expected, (row["metric"], row["scheme"], vs)
    # the constructed data has a real winner: emergence converges faster than kaiming
    first = parser.tables["first_epoch_test_accuracy"]["emergence(alpha=1.1)"]
    assert first[10] == "better"
    assert list(parser.tables["test_accuracy"])[0] == "kaiming"  # the reference leads
    assert parser.tables["first_epoch_test_accuracy"]["xavier"][-1] == "1"
    # one precision per table: every mean and difference has the same decimals
    for metric, rows in parser.tables.items():
        widths = {len(c.split(".")[-1]) for r in rows.values() for c in (r[2], r[4]) if c}
        assert len(widths) == 1, (metric, rows)
    assert parser.tables["test_accuracy"]["kaiming"][2].startswith("0.")
    assert len(parser.tables["test_accuracy"]["kaiming"][2]) == 5  # 0.xxx: three digits


def test_report_is_self_contained_and_escapes_text(tmp_path):
    html = render_compare_report(make_compare())
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)\s*=", html)
    assert "cdn.plot.ly/plotly" not in html  # no CDN copy of the library...
    assert get_plotlyjs() in html  # ...the whole library inline instead
    assert html.count("Plotly.newPlot") == 4  # accuracy, loss, profiles, emergence
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert "Runs that did not complete (1)" in html


def test_figures_and_report_show_the_test_split_and_say_so():
    data = make_compare()
    colors = scheme_colors(s["name"] for s in data["schemes"])
    conv = convergence_figure(data, colors, ACCURACY_CURVE)
    assert conv.layout.yaxis.title.text == "test accuracy"
    loss = convergence_figure(data, colors, LOSS_CURVE)
    assert loss.layout.yaxis.title.text == "test loss (log)" and loss.layout.yaxis.type == "log"
    # the plotted means are the test curves', not the validation curves'
    kaiming = next(s for s in data["schemes"] if s["name"] == "kaiming")["runs"]
    acc = next(t for t in conv.data if t.name == "kaiming" and t.mode == "lines+markers")
    assert acc.y[0] == pytest.approx(np.mean([r["curve"]["test_accuracy"][0] for r in kaiming]))
    emerg = emergence_figure(data, colors)
    titles = [a.text for a in emerg.layout.annotations]
    assert titles[0].startswith("First-epoch test accuracy: Spearman")
    assert titles[1].startswith("Final test accuracy: Spearman")
    assert emerg.layout.yaxis.title.text == "test accuracy"
    html = render_compare_report(data)
    for metric in METRICS:
        assert f"<h3>{LABELS[metric]} <span" in html
    assert "Epochs to the target test accuracy" in LABELS.values()
    assert "judged on the <b>test split</b>" in html and "target test accuracy 0.8" in html
    assert "Convergence on the test split" in html and "Statistics on the test split" in html
    assert "Validation" not in html.replace(get_plotlyjs(), "")


def test_runs_without_test_curves_draw_nothing_rather_than_validation(tmp_path):
    """A comparison whose runs were stored before the test split has validation curves only:
    the convergence plot is left out and says why; the report still renders."""
    data = make_compare()
    for s in data["schemes"]:
        for r in s["runs"]:
            del r["curve"]["test_accuracy"], r["curve"]["test_loss"]
            for key in METRICS:
                r["summary"][key] = None
    colors = scheme_colors(s["name"] for s in data["schemes"])
    assert convergence_figure(data, colors, ACCURACY_CURVE) is None
    assert emergence_figure(data, colors) is None
    html = render_compare_report(data)
    assert "No test curves in this comparison" in html
    assert html.count("Plotly.newPlot") == 1  # the profiles only


def test_report_says_what_is_missing(tmp_path):
    data = make_compare()
    for s in data["schemes"]:
        for r in s["runs"]:
            r["log_emergence"] = None
        if s["name"] != "kaiming":
            s["init"]["scheme"] = "xavier"
    data["schemes"][-1]["name"] = "other"
    html = render_compare_report(data)
    assert "No run has both an emergence measure and a test accuracy" in html
    assert "No per-layer profiles" in html
    assert html.count("Plotly.newPlot") == 2  # test accuracy and test loss


def test_directions_and_methods_declared_by_the_comparison_are_used():
    data = make_compare()
    extra = [
        dict(r, metric="seconds_to_target") for r in data["stats"] if r["metric"] == "test_accuracy"
    ]
    data["stats"] += extra
    data["metrics"] = {"seconds_to_target": {"higher_is_better": False}}
    data["methods"] = {"primary_test": "paired t-test on per-seed differences"}
    parser = _Tables()
    html = render_compare_report(data)
    parser.feed(html)
    # the same rows as final accuracy, judged the other way round by the declared direction
    flipped = {"better": "worse", "worse": "better", "": ""}
    for scheme, cells in parser.tables["test_accuracy"].items():
        assert parser.tables["seconds_to_target"][scheme][10] == flipped[cells[10]]
    assert "Seconds to target <span" in html and "lower is better" in html
    assert "paired t-test on per-seed differences" in html


def test_bad_inputs_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="initsearch compare"):
        write_compare_report(tmp_path / "missing.json", tmp_path / "r.html")
    data = make_compare()
    del data["stats"]
    with pytest.raises(ConfigError, match="lacks stats"):
        render_compare_report(data)
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        render_compare_report(tmp_path / "bad.json")
    with pytest.raises(ConfigError, match="template"):
        render_compare_report(make_compare(), template_dir=tmp_path)


PLOTS = ("accuracy-plot", "loss-plot", "profile-plot", "emergence-plot")


def test_report_renders_in_chromium(tmp_path, browser):  # noqa: F811 (fixture)
    from selenium.webdriver.common.by import By

    # laid out as in a runs folder: plotly.js comes from the folder's one shared copy
    out = write_compare_report(make_compare(), tmp_path / "tiny-compare" / "compare" / "r.html")
    assert not (out.parent / "plotly.min.js").exists()
    browser.get(out.as_uri())

    def drawn(d) -> bool:
        for div in PLOTS:
            traces = d.find_elements(By.CSS_SELECTOR, f"#{div} svg.main-svg .scatterlayer .trace")
            if not traces:
                return False
        return True

    wait_for(browser, drawn, 30, "four plotly figures with drawn traces")
    # lines and markers really have geometry (paths with a d attribute), not empty groups
    for div in PLOTS:
        paths = browser.find_elements(By.CSS_SELECTOR, f"#{div} .scatterlayer path")
        assert any((p.get_attribute("d") or "").strip() for p in paths), div
        if div in ("profile-plot", "emergence-plot"):  # small multiples: titles, no legend
            legend = browser.find_elements(By.CSS_SELECTOR, f"#{div} .legend .traces")
            assert legend, f"{div} has no legend"
    text = wait_for_text(browser, list(SCHEMES) + ["Statistics", "Final test accuracy"], 10)
    assert "Init comparison: tiny-compare" in text
    title = browser.find_element(By.CSS_SELECTOR, "#emergence-plot .annotation-text").text
    assert "Spearman r =" in title
    rows = browser.find_elements(By.CSS_SELECTOR, 'table[data-metric="test_accuracy"] tbody tr')
    assert len(rows) == len(SCHEMES)
    assert not browser.find_element(By.ID, "plotly-missing").is_displayed()
    # readable at 1400 px: nothing wider than the window, panels of a usable size
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400
    panels = browser.find_elements(By.CSS_SELECTOR, "#accuracy-plot .cartesianlayer .subplot")
    assert len(panels) == len(SCHEMES)
    width = browser.execute_script(
        "return document.querySelector('#accuracy-plot .draglayer .nsewdrag')"
        ".getBoundingClientRect().width"
    )
    assert width > 200  # each panel at least 200 px wide
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    shot = screenshot(browser, "compare-report", full_page=True)
    assert shot.stat().st_size > 20_000


def test_plotly_js_is_written_once_per_runs_folder_and_beside_a_lone_report(tmp_path):
    runs = tmp_path / "runs"
    first = write_compare_report(make_compare(), runs / "tiny-compare" / "compare" / "report.html")
    shared = runs / "_static" / "plotly.min.js"
    assert shared.read_text() == get_plotlyjs()
    stamp = shared.stat().st_mtime_ns
    again = write_compare_report(make_compare(), first)
    assert shared.stat().st_mtime_ns == stamp  # the same library is not written again
    html = again.read_text()
    assert '<script src="../../_static/plotly.min.js"></script>' in html
    assert get_plotlyjs() not in html and len(html) < 500_000
    assert sorted(p.name for p in runs.rglob("*.js")) == ["plotly.min.js"]
    # a report written outside a runs folder carries its own copy, so it opens as it lies
    lone = write_compare_report(make_compare(), tmp_path / "elsewhere" / "report.html")
    assert (lone.parent / "plotly.min.js").read_text() == get_plotlyjs()
    assert '<script src="plotly.min.js"></script>' in lone.read_text()


def test_lps_is_left_out_of_the_profiles_and_e_zero_runs_are_drawn_at_a_floor():
    data = make_compare()
    lps = copy.deepcopy(data["schemes"][1])  # xavier's runs: all scales exactly 1
    lps["name"], lps["init"] = "lps", {"scheme": "lps", "scales": None, "options": {}}
    data["schemes"].append(lps)
    zero = data["schemes"][0]["runs"][0]  # kaiming seed 0: E = 0 at init
    zero["log_emergence"], zero["emergence_zero"] = None, True
    colors = scheme_colors(s["name"] for s in data["schemes"])
    profile = profile_figure(data, colors)
    assert "lps" not in {t.name for t in profile.data}
    emerg = emergence_figure(data, colors)
    kaiming = next(t for t in emerg.data if t.name == "kaiming" and t.xaxis == "x")
    finite_x = [
        r["log_emergence"]
        for s in data["schemes"]
        for r in s["runs"]
        if r.get("log_emergence") is not None
    ]
    assert len(kaiming.x) == len(SEEDS)  # the E = 0 run is drawn, not dropped...
    assert kaiming.x[0] < min(finite_x) and kaiming.marker.symbol[0] == "diamond-open"
    html = render_compare_report(data)
    assert (
        "Not drawn: lps. LPS sets each layer" in html
        and "recorded scales are all exactly 1" in html
    )
    assert re.search(r"1 run had\s+E = 0 at init", html)  # ...and counted
