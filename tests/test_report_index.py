"""The study report's page (``index.html``): what it leads with, what each figure draws, where
plotly.js comes from, and the page opened in headless Chromium (figures drawn, no errors).

Studies are hand-made (tests/reportutil.py), so the expected numbers are known here."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from initsearch.report import build_study_report, write_study_report
from initsearch.report.study_figures import curves_figure, emergence_figure, profile_figure
from initsearch.report.study_index import importance_caveat, write_index
from tests.browser import browser, screenshot, wait_for, wait_for_text  # noqa: F401
from tests.reportutil import full_study, keep_a_verdict
from tests.studyutil import tiny_study

PLOTS = ("curves-plot", "profile-plot", "importance-plot", "emergence-plot")


@pytest.fixture
def written(tmp_path: Path):
    """A confirmed hand-made study reported into its default folder of a runs folder."""
    runs = tmp_path / "runs"
    cfg = tiny_study(runs, "idx")
    study = full_study()
    sentence = keep_a_verdict(study)
    report = write_study_report(cfg, study, runs / "idx" / "report")
    return runs, study, report, sentence


def _sections(html: str) -> list[str]:
    return re.findall(r'<h2 id="([a-z-]+)"', html)


def test_index_leads_with_the_verdict_and_holds_every_section(written):
    runs, study, report, sentence = written
    page = runs / "idx" / "report" / "index.html"
    assert report["files"]["index_html"] == str(page)
    html = page.read_text()
    assert _sections(html) == [
        "verdict",
        "baselines",
        "profiles",
        "importances",
        "emergence",
        "files",
    ]
    assert sentence in html and 'id="verdict-table"' in html
    table = html.split('id="verdict-table"')[1].split("</table>")[0]
    assert "<th>did not train</th>" in table and "<td>none</td>" in table
    for div in PLOTS:
        assert f'id="{div}"' in html, div
    # one plotly.js for the whole runs folder, loaded relatively; none beside the page
    assert '<script src="../../_static/plotly.min.js"></script>' in html
    assert (runs / "_static" / "plotly.min.js").read_text() == get_plotlyjs()
    assert not (page.parent / "plotly.min.js").exists() and len(html) < 400_000
    # the baselines table: best searched first (it ranks 1), baselines by their labels
    assert re.search(r'<tr class="best"><td class="name">searched #1</td>', html)
    for name in ("kaiming", "emergence(alpha=1.1)", "lps", "gradinit"):
        assert f'<td class="name">{name}</td>' in html
    # LPS is left out of the profiles, and the page says why; the E = 0 trial is counted
    assert (
        "Not drawn: lps. LPS sets each layer" in html
        and "recorded scales are all exactly 1" in html
    )
    assert re.search(r"1 trial\s+had E = 0 at init", html)
    assert "fANOVA&#39;s ranking is unreliable" in html  # 6 trials for 3 parameters
    stored = json.loads((page.parent / "report.json").read_text())
    assert stored["files"]["index_html"] == str(page) and stored["verdict"]["sentence"] == sentence
    assert '<img class="png" src="verdict.png"' in html
    # a verdict whose figure could not be drawn still renders, without the figure
    report["files"].pop("verdict_png")
    again = write_index(report, study, page.parent).read_text()
    assert sentence in again and "verdict.png" not in again


def test_index_without_a_verdict_says_how_to_run_one(tmp_path):
    cfg = tiny_study(tmp_path, "bare")
    write_study_report(cfg, full_study(), tmp_path / "out")
    html = (tmp_path / "out" / "index.html").read_text()
    assert "No confirmation has run for this study yet" in html
    assert "<code>initsearch study confirm bare</code>" in html
    assert _sections(html)[0] == "verdict" and 'id="verdict-table"' not in html
    # written outside a runs folder: the page carries its own plotly.js
    assert '<script src="plotly.min.js"></script>' in html
    assert (tmp_path / "out" / "plotly.min.js").read_text() == get_plotlyjs()


def test_figures_draw_what_the_captions_say(tmp_path):
    study = full_study()
    report = build_study_report(tiny_study(tmp_path), study)
    best = report["best_searched"]["trial"]
    curves = curves_figure(report, study)
    cloud = [t for t in curves.data if t.legendgroup == "cloud"]
    assert len(cloud) == 5 and cloud[0].name == "searched trials (5)"  # all searched but best
    top = curves.data[-1]
    assert top.name == f"best: searched #{best}" and top.line.width == 4
    labelled = {t.name for t in curves.data if t.legendgroup != "cloud"}
    assert labelled >= {"kaiming", "emergence(alpha=1.1)", "lps", "gradinit"}
    profiles, left_out = profile_figure(report)
    assert left_out == ["lps"]
    names = [t.name for t in profiles.data]
    assert "lps (baseline)" not in names and "gradinit (baseline)" in names
    assert names[0].startswith("kaiming: flat at 1") and set(profiles.data[0].y) == {1.0}
    assert list(profiles.data[names.index(f"best: searched #{best}")].y) == [0.8, 1.0, 1.3]
    # plain ticks on the log axis (plotly's own label minor ticks with bare digits: 9, 8, 7)
    assert 1.0 in profiles.layout.yaxis.tickvals and "1" in profiles.layout.yaxis.ticktext
    axis = profiles.layout.yaxis
    assert [float(text) for text in axis.ticktext] == list(axis.tickvals)
    emergence, zero = emergence_figure(report, study)
    assert zero == 1
    xs = [x for t in emergence.data for x in t.x]
    assert len(xs) == report["counts"]["complete"]  # every completed trial, E = 0 included
    floor = min(xs)
    assert floor < -2.0 and sum(x == floor for x in xs) == 1
    assert importance_caveat(report).startswith(
        "Only 6 trials for 3 searched parameters (2.0 per parameter, fewer than 10)"
    )


def test_index_renders_in_chromium_and_warns_when_copied_alone(written, tmp_path, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    runs, _, _, sentence = written
    page = runs / "idx" / "report" / "index.html"
    browser.get(page.as_uri())

    def drawn(d) -> bool:
        return all(d.find_elements(By.CSS_SELECTOR, f"#{div} svg.main-svg .trace") for div in PLOTS)

    wait_for(browser, drawn, 30, "four plotly figures with drawn traces")
    for div in PLOTS:
        paths = browser.find_elements(By.CSS_SELECTOR, f"#{div} .trace path")
        assert any((p.get_attribute("d") or "").strip() for p in paths), div
    text = wait_for_text(browser, [sentence, "searched #1", "kaiming"], 10)
    assert text.index("Verdict") < text.index("Best searched against the baselines")
    verdict = browser.find_element(By.ID, "verdict-sentence")
    assert verdict.is_displayed() and verdict.location["y"] < 400  # on the first screen
    assert not browser.find_element(By.ID, "plotly-missing").is_displayed()
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 1400
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    shot = screenshot(browser, "study-report-index", full_page=True)
    assert shot.stat().st_size > 50_000
    # the report folder copied out of its runs folder: the page says what to copy
    alone = tmp_path / "copied"
    shutil.copytree(page.parent, alone)
    browser.get((alone / "index.html").as_uri())
    note = wait_for(browser, lambda d: d.find_element(By.ID, "plotly-missing"), 10, "the note")
    assert note.is_displayed() and "_static/" in note.text
