"""``initsearch dashboard`` against a real tiny study: headless Chromium opens the Optuna
dashboard and the MLflow UI it serves and finds the study, its trials, the runs and a run's
``val_accuracy`` chart; Ctrl-C (SIGINT to the command's process group, as a terminal sends it)
stops both servers. Error paths (ports taken, stores missing) exit 2 before starting anything.

The served command runs once per module (``served``); the browser tests use it in file order
and the last test stops it. Every process the command starts carries a marker in its
environment, so the teardown finds and kills whatever is left, whatever failed. Screenshots of
each page land in ``test-artifacts/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from initsearch.cli import main
from initsearch.contract import STUDY_TRACKING_URI
from initsearch.dashboard import Server, ServerFailed, resolve_target, start, stop, wait_ready
from initsearch.stores import recorded_tracking_uri, redact
from initsearch.tracking import trials_url
from tests.browser import (  # noqa: F401
    browser,
    require_browser,
    screenshot,
    wait_for,
    wait_for_text,
)
from tests.studyutil import tiny_study

REPO = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 150  # both servers up on 2 loaded cores (MLflow alone takes ~10 s idle)
STOP_TIMEOUT_S = 40  # Ctrl-C to exit: the command waits up to 15 s + 5 s for its servers
PAGE_TIMEOUT_S = 60  # a single-page app's data shown after navigation


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cli_error(capsys, *args: str) -> str:
    """Run the command in-process, expect exit status 2, return its stderr."""
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 2
    out = capsys.readouterr()
    assert "starting" not in out.err  # nothing was started
    return out.err


# ---- the study and the served command ----------------------------------------------------


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A real tiny study (6 trials, in-process), journal storage and SQLite MLflow."""
    from initsearch.run.pool import InlinePool
    from initsearch.search.study import study_driver

    workdir = tmp_path_factory.mktemp("dash")
    cfg = tiny_study(workdir, name=f"dash{uuid.uuid4().hex[:6]}")
    driver = study_driver(cfg, InlinePool())
    driver.run()
    return cfg, driver.study


class Served:
    """``python -m initsearch dashboard`` in its own session, output collected by a thread."""

    def __init__(self, workdir: str, name: str) -> None:
        self.marker = f"INITSEARCH_TEST_DASHBOARD={uuid.uuid4().hex}"
        self.optuna_port, self.mlflow_port = free_port(), free_port()
        while self.mlflow_port == self.optuna_port:
            self.mlflow_port = free_port()
        key, value = self.marker.split("=")
        env = {**os.environ, key: value, "COLUMNS": "200"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        args = ["dashboard", name, "--workdir", workdir]
        args += ["--optuna-port", str(self.optuna_port), "--mlflow-port", str(self.mlflow_port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "initsearch", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own group: SIGINT to it is a terminal's Ctrl-C
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def url(self, label: str, timeout: float) -> str:
        """The address printed after ``label:``, waiting (bounded) for the line."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(f"{label}: "):
                    return line.split()[len(label.split())]
            if self.proc.poll() is not None:
                time.sleep(0.5)  # let the reader drain the last lines
                pytest.fail(f"dashboard exited ({self.proc.returncode}):\n{self.output}")
            time.sleep(0.2)
        pytest.fail(f"no {label!r} address within {timeout} s:\n{self.output}")

    def processes(self) -> list[tuple[int, str]]:
        """Live processes started by the command (the marker is in their environment)."""
        marker = self.marker.encode()
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                if stat[0] == "Z":
                    continue
                if marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0"):
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                    found.append((int(entry), cmd.decode(errors="replace")[:160]))
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        for pid, _ in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        self.reader.join(timeout=5)


@pytest.fixture(scope="module")
def served(study):
    cfg, _ = study
    run = Served(cfg.workdir, cfg.name)
    try:
        run.optuna_url = run.url("Optuna dashboard", READY_TIMEOUT_S)
        run.mlflow_url = run.url("MLflow UI", 30)
        yield run
    finally:
        run.close()


# ---- errors: nothing starts --------------------------------------------------------------


def test_taken_ports_and_missing_stores_exit_2_before_starting(tmp_path, capsys):
    journal = tmp_path / "optuna.journal"
    journal.touch()
    db = tmp_path / "mlflow.db"
    db.touch()
    stores = ["--storage", f"journal://{journal}", "--tracking-uri", f"sqlite:///{db}"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        other = str(free_port())
        err = cli_error(capsys, "dashboard", *stores, "--optuna-port", port, "--mlflow-port", other)
        assert f"port {port} on 127.0.0.1 is taken" in err and "--optuna-port" in err
        err = cli_error(capsys, "dashboard", *stores, "--optuna-port", other, "--mlflow-port", port)
        assert f"port {port}" in err and "--mlflow-port" in err
    err = cli_error(capsys, "dashboard", *stores, "--optuna-port", other, "--mlflow-port", other)
    assert "both" in err
    missing_db = [
        "--storage",
        f"journal://{journal}",
        "--tracking-uri",
        f"sqlite:///{tmp_path}/x.db",
    ]
    err = cli_error(capsys, "dashboard", *missing_db)
    assert "no MLflow tracking store" in err and "x.db" in err
    assert not (tmp_path / "x.db").exists()  # not created by a check
    err = cli_error(
        capsys,
        "dashboard",
        "--storage",
        f"journal://{tmp_path}/none.journal",
        "--tracking-uri",
        f"sqlite:///{db}",
    )
    assert "no Optuna storage" in err and "none.journal" in err
    err = cli_error(capsys, "dashboard", "--storage", f"journal://{journal}")
    assert "--tracking-uri" in err
    err = cli_error(capsys, "dashboard", "--workdir", str(tmp_path / "empty"))
    assert "no study under" in err
    err = cli_error(capsys, "dashboard", "nosuch", "--workdir", str(tmp_path))
    assert "nosuch" in err


def test_the_target_is_the_study_its_driver_recorded(study, tmp_path):
    cfg, optuna_study = study
    target = resolve_target(cfg.name, workdir=cfg.workdir)
    assert target.study == cfg.name
    assert target.tracking_uri == recorded_tracking_uri(optuna_study, cfg.workdir)
    assert (
        target.storage_url
        == f"journal://{(Path(cfg.workdir) / cfg.name / 'optuna.journal').resolve()}"
    )
    assert target.optuna_study_id == optuna_study._study_id
    assert resolve_target(None, workdir=cfg.workdir) == target  # the only study there
    other = tmp_path / "elsewhere.db"
    with pytest.raises(Exception, match="no MLflow tracking store"):
        resolve_target(cfg.name, workdir=cfg.workdir, tracking_uri=f"sqlite:///{other}")
    assert (
        redact("postgresql+psycopg2://me:secret@db:5432/x")
        == "postgresql+psycopg2://me:***@db:5432/x"
    )


def test_a_copied_runs_folder_serves_its_own_stores(study, tmp_path):
    """The driver records its stores relative to the study's folder: a copy of ``runs/``
    whose original is gone resolves to the copy's journal and MLflow database."""
    cfg, optuna_study = study
    assert optuna_study.user_attrs[STUDY_TRACKING_URI] == "sqlite:///./mlflow.db"
    original, copy = tmp_path / "original", tmp_path / "copy"
    shutil.copytree(cfg.workdir, original)
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    target = resolve_target(cfg.name, workdir=str(copy))
    folder = (copy / cfg.name).resolve()
    assert target.storage_url == f"journal://{folder / 'optuna.journal'}"
    assert target.tracking_uri == f"sqlite:///{folder / 'mlflow.db'}"
    assert target.optuna_study_id == optuna_study._study_id


# ---- process groups: started, reported, stopped ------------------------------------------

# a "server" that ignores SIGTERM and has a child of its own (like uvicorn under mlflow)
STUBBORN = (
    "import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "subprocess.Popen([sys.executable, '-c', 'import signal, time; "
    "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)']); "
    "print('up', flush=True); time.sleep(600)"
)


def _group(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            if stat[0] != "Z" and int(stat[3]) == pgid:
                found.append(int(entry))
    return found


def test_stop_kills_the_whole_group_even_when_sigterm_is_ignored(tmp_path):
    server = Server("stubborn", "http://127.0.0.1:1", "/", [sys.executable, "-c", STUBBORN])
    start(server, tmp_path)
    try:
        deadline = time.monotonic() + 30
        while len(_group(server.proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_group(server.proc.pid)) == 2  # the leader and its child
        assert os.getpgid(server.proc.pid) != os.getpgid(0)  # not in our group
        began = time.monotonic()
        stop([server], timeout=2)
        assert time.monotonic() - began < 10
        assert server.proc.returncode == -signal.SIGKILL
        assert _group(server.proc.pid) == []
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.proc.pid, signal.SIGKILL)


def test_a_server_dying_while_starting_is_reported_with_its_log(tmp_path):
    crash = "import sys; print('cannot open the storage: boom'); sys.exit(3)"
    server = Server("Crashy", "http://127.0.0.1:1", "/", [sys.executable, "-c", crash])
    start(server, tmp_path)
    with pytest.raises(ServerFailed, match=r"(?s)Crashy exited with status 3.*boom"):
        wait_ready([server], timeout=30)
    stop([server])


def test_without_a_browser_tests_skip_locally_and_fail_in_ci(monkeypatch):
    monkeypatch.setattr("tests.browser._find", lambda names, paths: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium and chromium-driver"):
        require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        require_browser()


# ---- the served pages, in a real browser -------------------------------------------------


def test_optuna_dashboard_shows_the_study_and_its_trials(served, study, browser):  # noqa: F811
    cfg, optuna_study = study
    assert re.fullmatch(
        rf"http://127\.0\.0\.1:{served.optuna_port}/dashboard/studies/\d+", served.optuna_url
    )
    browser.get(served.optuna_url)
    wait_for_text(browser, [cfg.name, "History"], PAGE_TIMEOUT_S)
    wait_for(browser, _plot_drawn, PAGE_TIMEOUT_S, "the history plot")
    screenshot(browser, "optuna-dashboard-study")
    numbers = [t.number for t in optuna_study.trials]
    assert len(numbers) == 6
    browser.get(served.optuna_url + "/trials")
    text = wait_for_text(browser, [cfg.name] + [f"Trial {n}" for n in numbers], PAGE_TIMEOUT_S)
    assert f"{len(numbers)} Trials" in text
    assert "Complete" in text
    screenshot(browser, "optuna-dashboard-trials")


def _plot_drawn(driver) -> bool:
    from selenium.webdriver.common.by import By

    return bool(driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer .trace"))


def _close_assistant(driver) -> None:
    """MLflow 3 opens an assistant panel over a third of the page; close it if it is there."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    for button in driver.find_elements(By.CSS_SELECTOR, "button[aria-label='Close']"):
        with contextlib.suppress(WebDriverException):
            button.click()


def test_mlflow_ui_shows_the_runs_and_a_val_accuracy_chart(served, study, browser):  # noqa: F811
    """The printed address lands on the charts of every trial run, baselines included,
    named as every view names them, in the model-training view (not GenAI)."""
    from mlflow import MlflowClient

    cfg, optuna_study = study
    client = MlflowClient(tracking_uri=recorded_tracking_uri(optuna_study, cfg.workdir))
    experiment = client.get_experiment_by_name(f"initsearch/{cfg.name}")
    assert served.mlflow_url == trials_url(
        f"http://127.0.0.1:{served.mlflow_port}", experiment.experiment_id
    )
    trials = client.search_runs(
        [experiment.experiment_id], filter_string="tags.`initsearch.kind` = 'trial'"
    )
    names = sorted(r.info.run_name for r in trials)
    assert len(names) == len(optuna_study.trials) == 6
    assert {"kaiming", "xavier", "emergence(alpha=1.1)", "searched #3"} <= set(names)

    browser.get(served.mlflow_url)
    wait_for_text(browser, ["Model training", "Curves per epoch", *names], PAGE_TIMEOUT_S)
    _close_assistant(browser)
    wait_for(browser, _chart_line, PAGE_TIMEOUT_S, "the val_accuracy lines")
    text = wait_for_text(browser, ["kaiming (val_accuracy)", "searched #3 (val_accuracy)"], 30)
    assert "No charts in this section" not in text.split("Curves per epoch")[1][:200]
    screenshot(browser, "mlflow-runs-charts")
    # every trial's curve is drawn (plotly keeps the plotted data on its div): none hidden
    # behind a collapsed parent run or the UI's first-10-runs default
    drawn = browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot'))"
        ".flatMap(p => (p.data || []).map(t => Array.from(t.y || [])));"
    )
    for trial in optuna_study.trials:
        curve = trial.user_attrs["val_accuracy_curve"]
        assert [pytest.approx(v) for v in curve] in drawn, (trial.number, drawn)


def _chart_line(driver) -> bool:
    from selenium.webdriver.common.by import By

    paths = driver.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .scatterlayer path.js-line")
    return any((p.get_attribute("d") or "").count("L") >= 2 for p in paths)  # 3 epochs: 2 segments


def test_ctrl_c_stops_both_servers(served):
    assert port_open(served.optuna_port) and port_open(served.mlflow_port)
    started = served.processes()
    assert len(started) >= 3, started  # the command and its two servers
    os.killpg(served.proc.pid, signal.SIGINT)
    try:
        code = served.proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_TIMEOUT_S} s after Ctrl-C:\n{served.output}")
    served.reader.join(timeout=5)
    assert code == 0, served.output
    assert "stopped." in served.output
    deadline = time.monotonic() + 5
    while served.processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert served.processes() == []
    assert not port_open(served.optuna_port)
    assert not port_open(served.mlflow_port)
