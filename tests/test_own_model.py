"""Studies over a researcher's own model, data and training loop (issue: "your own model").

The shipped examples run for real: a study with a user model factory, data factory and
training function through Ray and MLflow to a verdict (``run_study``, the Python API), and the
notebook-style script as a user runs it. Bad factories stop ``study start`` with exit 2 and
one line naming the factory, before Ray starts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

from initsearch.config import load_study, parse_study
from initsearch.errors import ConfigError

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


# --- the user's code that goes wrong ----------------------------------------------------------
def returns_a_list() -> list:
    return [nn.Linear(2, 2)]


class ShapeBug(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 10)  # digits images are (1, 8, 8): 64 features, not 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


def shape_bug() -> nn.Module:
    return ShapeBug()


def no_layers() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.ReLU())


def not_data() -> str:
    return "images.npz"


def study_file(tmp_path: Path, **sections) -> Path:
    raw = {
        "name": "own",
        "data": {"name": "digits"},
        "model": {"name": "mlp", "depth": 1, "width": 8},
        "train": {"epochs": 1},
        "budget": {"trials": 3},
        "workdir": str(tmp_path / "runs"),
        **sections,
    }
    path = tmp_path / "own.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def start(capsys, path: Path) -> tuple[int, str]:
    from initsearch.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["study", "start", str(path)])
    captured = capsys.readouterr()
    return exited.value.code, captured.err


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        (
            {"model": {"factory": "no_such_module_xyz:make"}},
            "model factory 'no_such_module_xyz:make': cannot import module 'no_such_module_xyz'",
        ),
        (
            {"model": {"factory": "tests.test_own_model:returns_a_list"}},
            "model factory 'tests.test_own_model:returns_a_list' returned a list, not a "
            "torch.nn.Module",
        ),
        (
            {"model": {"factory": "tests.test_own_model:shape_bug"}},
            "model factory 'tests.test_own_model:shape_bug': ",
        ),
        (
            {"model": {"factory": "tests.test_own_model:no_layers"}},
            "has no scalable layer",
        ),
        (
            {"data": {"factory": "tests.test_own_model:not_data"}},
            "data factory 'tests.test_own_model:not_data' returned a str",
        ),
        (
            {"train": {"function": "tests.test_own_model:no_such_fit", "epochs": 1}},
            "training function 'tests.test_own_model:no_such_fit': module "
            "'tests.test_own_model' has no 'no_such_fit'",
        ),
    ],
)
def test_bad_factories_exit_2_with_one_line_before_ray_starts(tmp_path, capsys, sections, message):
    code, err = start(capsys, study_file(tmp_path, **sections))
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0]
    assert not ray.is_initialized()
    assert not (tmp_path / "runs" / "own").exists()  # no study, no MLflow store was created


def test_shape_bug_names_the_forward_failure(tmp_path, capsys):
    _, err = start(
        capsys, study_file(tmp_path, model={"factory": "tests.test_own_model:shape_bug"})
    )
    assert "forward" in err and "shape" in err


def test_references_are_checked_and_stored_by_name():
    with pytest.raises(ConfigError, match=r"model.factory: .*'package.module:function'"):
        parse_study({"name": "x", "model": {"factory": "not a reference"}})
    cfg = parse_study({"name": "x", "train": {"function": returns_a_list}})
    assert cfg.train.function is returns_a_list
    stored = cfg.model_dump(mode="json")["train"]["function"]
    assert stored == "tests.test_own_model:returns_a_list"
    spec = cfg.trial_spec(__import__("initsearch.inits").inits.InitSpec(), 0)
    assert spec.loop.function is returns_a_list
    assert spec.to_dict()["loop"]["function"] == stored


def test_a_study_file_imports_its_code_from_its_own_folder(tmp_path, monkeypatch):
    (tmp_path / "lab_nets_abc.py").write_text(
        "from torch import nn\n"
        "def make(width=4):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), "
        "nn.Linear(width, 10))\n"
    )
    path = study_file(tmp_path, model={"factory": "lab_nets_abc:make", "kwargs": {"width": 5}})
    monkeypatch.chdir(REPO)  # not the study's folder
    monkeypatch.setattr(sys, "path", list(sys.path))
    from initsearch.api import check_study

    info = check_study(load_study(path)).info
    assert info.names == ("1", "3") and info.depths == (0, 1)


def example_study(name: str, **overrides) -> dict:
    raw = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(raw.get(key), dict) else value
    return raw


def test_own_model_data_and_loop_run_through_ray_and_mlflow_to_a_verdict(tmp_path, monkeypatch):
    """The ResNet-18 example (torchvision model, data factory, AdamW loop of its own), made
    small: baselines, a search, the confirmation and a verdict, with an MLflow run per trial."""
    from mlflow import MlflowClient

    from initsearch import run_study
    from initsearch.stores import tracking_uri

    monkeypatch.chdir(EXAMPLES)  # as a user runs it: the example's code from its folder
    raw = example_study(
        "resnet_own_loop",
        data={"kwargs": {"size": 16}, "limit": 256},
        train={"epochs": 2},
        baselines={"schemes": ["kaiming", "xavier", "emergence"], "emergence_alphas": [1.1]},
        budget={"trials": 5, "seeds_per_trial": 2},
        confirm={"top_k": 1, "seeds": 2},
        workdir=str(tmp_path),
    )
    run = run_study(raw, workers=2)
    trials = run.study.get_trials()
    assert len(trials) == 5
    assert {t.user_attrs.get("baseline") for t in trials} >= {"kaiming", "xavier"}
    assert all(t.state.name == "COMPLETE" for t in trials), [t.user_attrs for t in trials]
    names = run.study.user_attrs["layer_names"]
    assert len(names) == 21 and names[0] == "conv1" and names[-1] == "fc"
    for t in trials:
        assert len(t.user_attrs["seed_values"]) == 2
        assert len(t.user_attrs["val_accuracy_curve"]) == 2
    assert run.verdict is not None
    assert {r.arm for r in run.verdict.rows} >= {"kaiming", "xavier", "emergence(alpha=1.1)"}
    assert all(r.n == 2 for r in run.verdict.rows)
    client = MlflowClient(tracking_uri(None, str(tmp_path), "resnet_own_loop"))
    experiment = client.get_experiment_by_name("initsearch/resnet_own_loop")
    runs = client.search_runs([experiment.experiment_id], max_results=500)
    by_id = {r.info.run_id: r for r in runs}
    for t in trials:
        logged = by_id[t.user_attrs["mlflow_run_id"]]
        assert "val_accuracy" in logged.data.metrics
        history = client.get_metric_history(logged.info.run_id, "val_accuracy")
        assert len(history) == 2


def test_the_notebook_example_runs_as_a_script(tmp_path):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "notebook_api.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout.strip().splitlines()
    assert out[-1] == f"study files: {tmp_path}/notebook_api"
    assert "the best baseline" in out[-2], out
    assert (tmp_path / "notebook_api" / "confirm" / "verdict.json").is_file()


class Quirky(nn.Module):
    """A head used twice, a layer never used, a parameter of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(64, 10)
        self.spare = nn.Linear(10, 10)
        self.temperature = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x.flatten(1)) / self.temperature


def quirky() -> nn.Module:
    return Quirky()


def test_a_study_says_which_layers_tracing_could_not_treat_as_usual(tmp_path):
    from initsearch.api import check_study

    cfg = load_study(study_file(tmp_path, model={"factory": "tests.test_own_model:quirky"}))
    notes = check_study(cfg).notes
    assert any("never ran" in n and "spare" in n for n in notes), notes
    assert any("no init touches" in n and "Quirky" in n for n in notes), notes
    assert all(n.startswith("model tests.test_own_model:quirky: ") for n in notes)
    assert check_study(load_study(study_file(tmp_path))).notes == []  # a built-in model
