"""The command line: a real train run, JSON output, and every error path exits 2 cleanly."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

from initsearch.cli.inits_cmd import show
from initsearch.cli.options import trial_spec
from initsearch.cli.train_cmd import train
from initsearch.train import TrialSpec


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "initsearch", *args], capture_output=True, text=True, timeout=300
    )


def test_help_lists_train():
    proc = run_cli("--help")
    assert proc.returncode == 0
    assert "train" in proc.stdout


@pytest.mark.parametrize("command", [train, show])
def test_option_defaults_are_the_engine_defaults(command):
    """Commands take every default from the engine's specs: no options, the default trial."""
    defaults = {k: p.default for k, p in inspect.signature(command).parameters.items()}
    assert trial_spec(defaults) == TrialSpec()


def test_train_json_on_digits():
    proc = run_cli(
        "train", "--data", "digits", "--depth", "2", "--width", "32", "--epochs", "2", "--json"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "completed"
    assert len(result["curve"]["val_accuracy"]) == 2
    assert result["summary"]["final_accuracy"] > 0.3


def test_train_prints_summary_table():
    proc = run_cli("train", "--data", "digits", "--depth", "1", "--width", "16", "--epochs", "1")
    assert proc.returncode == 0, proc.stderr
    assert "final accuracy" in proc.stdout
    assert "val acc" in proc.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--model", "lstm"], "lstm"),
        (["--data", "imagenet"], "imagenet"),
        (["--optimizer", "lion"], "lion"),
        (["--epochs", "0"], "epochs"),
        (["--scales", "1,x"], "--scales"),
        (["--scales", "1,2"], "scalable layers"),
        (["--init", "magic"], "magic"),
        (["--data", "mnist", "--data-root", "/nonexistent/folder"], "--download"),
        (["--device", "cuda:7"], "cpu"),
        (["--lr", "abc"], "lr"),
    ],
)
def test_errors_exit_2_with_one_clear_message(args, needle):
    proc = run_cli("train", "--data", "digits", "--epochs", "1", *args)
    if "--device" in args and "cuda" in args[-1]:
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert needle in proc.stderr
    assert "Traceback" not in proc.stderr
