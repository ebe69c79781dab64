"""A non-editable install renders reports: the wheel carries the templates of dashboards/.

The wheel is built from a copy of the sources (the build leaves nothing in the clone), without
build isolation so nothing is downloaded, and installed into a fresh venv. That venv reaches
the heavy dependencies (torch, optuna, plotly) through a ``.pth`` line naming this
environment's site-packages: ``--system-site-packages`` would give the base interpreter's,
not this venv's. A line in a ``.pth`` file adds a folder without running that folder's own
``.pth`` files, so the clone's editable install stays out. The reports are rendered by a
subprocess running in a folder outside the repository.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

from tests.test_html_report import make_compare

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "README.md", "initsearch", "dashboards")

RENDER = textwrap.dedent(
    """
    import json, math, sys
    from pathlib import Path
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial
    import initsearch
    from initsearch import contract
    from initsearch.config import parse_study
    from initsearch.report import write_study_report
    from initsearch.report.html_report import write_compare_report

    where = Path(initsearch.__file__).resolve()
    runs = Path("runs")
    cfg = parse_study({"name": "pk", "data": {"name": "digits"},
                       "model": {"name": "mlp", "depth": 2, "width": 16},
                       "workdir": str(runs)}, "(test)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    study.set_user_attr(contract.STUDY_LAYER_NAMES, ["a", "b", "c"])
    study.set_user_attr(contract.STUDY_LAYER_DEPTHS, [0, 1, 2])
    for i, value in enumerate([0.7, 0.8, 0.75, 0.78]):
        scales = [1.0 + 0.1 * i, 1.0, 1.0 - 0.05 * i]
        attrs = {contract.APPLIED_SCALES: scales, contract.INIT: {"scheme": "kaiming"},
                 contract.VAL_ACCURACY_CURVE: [0.3, value]}
        params = {f"log_scale_{j}": math.log(s) for j, s in enumerate(scales)}
        dists = {k: FloatDistribution(-2.0, 2.0) for k in params}
        if i == 0:
            attrs[contract.BASELINE], params, dists = "kaiming", {}, {}
        study.add_trial(create_trial(value=value, params=params, distributions=dists,
                                     user_attrs=attrs))
    report = write_study_report(cfg, study, runs / "pk" / "report")
    compare = write_compare_report(Path(sys.argv[1]), runs / "pk" / "compare" / "report.html")
    print(json.dumps({"module": str(where), "index": report["files"]["index_html"],
                      "compare": str(compare)}))
    """
)


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(dist),
            str(src),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (wheel,) = dist.glob("initsearch-*.whl")
    return wheel


def test_the_wheel_ships_every_module_and_the_templates(tmp_path):
    wheel = _build_wheel(tmp_path)
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(REPO).as_posix() for p in (REPO / "initsearch").rglob("*.py")}
    assert not modules - names, f"pyproject.toml's packages miss {sorted(modules - names)}"
    templates = {f"initsearch/_dashboards/{p.name}" for p in (REPO / "dashboards").glob("*.j2")}
    assert templates >= {
        "initsearch/_dashboards/compare_report.html.j2",
        "initsearch/_dashboards/study_report.html.j2",
    }
    assert templates <= names

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(site, "host_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--no-index",
            "-q",
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "compare.json").write_text(json.dumps(make_compare()))
    done = subprocess.run(
        [str(python), "-c", RENDER, "compare.json"],
        cwd=outside,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["module"].startswith(str(venv)), found  # the installed copy, not the clone
    index = (outside / found["index"]).read_text()
    assert "No confirmation has run for this study yet" in index
    assert '<table id="baseline-table">' in index and "searched #1" in index
    compare = (outside / found["compare"]).read_text()
    assert 'data-metric="test_accuracy"' in compare and "Init comparison: tiny-compare" in compare
    assert (outside / "runs" / "_static" / "plotly.min.js").is_file()
