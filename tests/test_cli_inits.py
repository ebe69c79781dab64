"""``initsearch inits list|show`` as a user runs it: a subprocess of ``python -m initsearch``.

Every subprocess of this module starts at once when the first test needs it (the ``runs``
fixture) and each test reads its own result, so their ~2 s of torch import overlap. The full
error table also runs in-process through ``initsearch.cli.main`` (the same entry point, without
the interpreter start), and one of its cases runs as a real process too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from initsearch.cli import main
from initsearch.cli.options import parse_init_options
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, apply, get_scheme, scheme_names
from initsearch.inits.measurement import DIAGNOSTICS_KEYS, LAYER_KEYS
from initsearch.models import DataShape, ModelSpec, build_model

MNIST1D = DataShape((40,), "vector", 10)
DIGITS = DataShape((1, 8, 8), "image", 10)

SHOW_MLP = ("inits", "show", "--model", "mlp", "--depth", "4", "--data", "mnist1d")
RUNS: dict[str, tuple[str, ...]] = {
    "list": ("inits", "list"),
    "show_mlp": (*SHOW_MLP, "--init", "kaiming"),
    "show_json": (
        *SHOW_MLP,
        *("--width", "32", "--init", "kaiming_uniform", "--scales", "0.5,1,1,1,2"),
        *("--option", "mode=fan_out", "--option", "threshold=0.05", "--seed", "3", "--json"),
    ),
}
ERRORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # name: (extra arguments to `inits show`, substrings the one-line error must contain)
    "model": (("--model", "lstm"), ("lstm", "mlp, vgg")),
    "init": (("--init", "magic"), ("magic", "kaiming", "inits list")),
    "option_key": (("--option", "alpah=1.2"), ("alpah", "gain", "mode")),
    "option_form": (("--option", "gain"), ("key=value",)),
    "option_value": (("--option", "gain=-1"), ("gain", "positive")),
    "diag_value": (("--option", "diagnostics=maybe"), ("diagnostics", "true or false")),
    "scales_length": (("--scales", "1,2"), ("scalable layers", "exactly 5")),
    "scales_text": (("--scales", "1,x"), ("--scales",)),
    "data": (("--data", "imagenet"), ("imagenet", "mnist1d")),
}

SUBPROCESS_ERRORS = ("scales_length",)  # raised inside apply, after the data loads


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess]:
    """Run every command line of this module concurrently; results by name."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "100"}
    commands = dict(RUNS)
    commands.update({f"error_{k}": (*SHOW_MLP, *ERRORS[k][0]) for k in SUBPROCESS_ERRORS})
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "initsearch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for name, args in commands.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=300)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


def layer_names(spec: ModelSpec, shape: DataShape) -> list[str]:
    return [layer.name for layer in build_model(spec, shape).scalable_layers()]


def test_list_shows_every_registered_scheme(runs):
    proc = runs["list"]
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("│")[1].strip(): line for line in proc.stdout.splitlines() if "│" in line}
    for name in scheme_names():
        assert name in rows, f"{name} missing from:\n{proc.stdout}"
        info = get_scheme(name)
        assert ("yes" if info.needs_data else "no") in rows[name].split("│")[-2]
        if info.options:  # the first option's name starts the options cell
            assert next(iter(info.options)) in rows[name]
    assert "diagnostics" in proc.stdout  # the options every scheme takes


def test_list_json_matches_the_registry(capsys):
    code, out, err = run_main(capsys, "inits", "list", "--json")
    assert code == 0, err
    listed = {row["name"]: row for row in json.loads(out)}
    assert sorted(listed) == scheme_names()
    for name, row in listed.items():
        info = get_scheme(name)
        assert row["summary"] == info.summary
        assert row["options"] == info.options
        assert row["needs_data"] == info.needs_data


def test_show_prints_every_layer_with_diagnostics(runs):
    proc = runs["show_mlp"]
    assert proc.returncode == 0, proc.stderr
    names = layer_names(ModelSpec("mlp", depth=4), MNIST1D)
    assert len(names) == 5
    for name in names:
        row = next(line for line in proc.stdout.splitlines() if f"│ {name} " in line)
        cells = [c.strip() for c in row.split("│")[1:-1]]
        assert len(cells) == 7 and all(c and c != "-" for c in cells), row
    for label in ("weight std", "act std", "dead", "grad norm", "batch loss", "log emergence"):
        assert label in proc.stdout
    log_e = next(line for line in proc.stdout.splitlines() if "log emergence" in line)
    assert "relative: " in log_e and "relative: -" not in log_e  # printed next to log E
    assert "x its layer's mean" in proc.stdout


def test_show_conv_net_with_option(capsys):
    code, out, err = run_main(
        capsys,
        *("inits", "show", "--model", "vgg", "--width", "8", "--data", "digits"),
        *("--init", "orthogonal", "--option", "gain=1.5"),
    )
    assert code == 0, err
    for name in layer_names(ModelSpec("vgg", width=8), DIGITS):
        assert f"│ {name} " in out
    assert "init orthogonal" in out


def test_show_json_is_the_init_train_starts_from(runs):
    proc = runs["show_json"]
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    report = out["report"]
    assert out["init"]["options"] == {"mode": "fan_out", "threshold": 0.05}
    assert report["applied_scales"] == [0.5, 1.0, 1.0, 1.0, 2.0]
    diag = report["diagnostics"]
    assert diag["threshold"] == 0.05
    assert diag["batch_size"] == 256
    assert diag["loss"] > 0 and 0 <= diag["active_fraction"] <= 1
    assert isinstance(diag["log_emergence"], float)
    assert isinstance(diag["log_emergence_relative"], float)
    assert 0 <= diag["active_fraction_relative"] <= 1 and diag["relative_threshold"] > 0
    assert set(diag) == DIAGNOSTICS_KEYS
    assert [row["name"] for row in diag["layers"]] == report["layer_names"]
    assert all(set(row) == LAYER_KEYS for row in diag["layers"])
    # seed, build, apply in this process gives the very same weights
    import torch

    spec = ModelSpec("mlp", depth=4, width=32)
    assert out["model"] == spec.resolved().to_dict()
    torch.manual_seed(3)
    model = build_model(spec, MNIST1D)
    apply(model, InitSpec("kaiming_uniform", (0.5, 1, 1, 1, 2), {"mode": "fan_out"}))
    for layer, row in zip(model.scalable_layers(), diag["layers"], strict=True):
        assert row["weight_std"] == pytest.approx(float(layer.weight.detach().double().std()))


def check_error(code: int, stdout: str, stderr: str, needles: tuple[str, ...]) -> None:
    assert code == 2, (stdout, stderr)
    assert "Traceback" not in stderr
    message = stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for needle in needles:
        assert needle in message, (needle, message)


@pytest.mark.parametrize("case", SUBPROCESS_ERRORS)
def test_show_errors_exit_2_in_a_real_process(runs, case):
    proc = runs[f"error_{case}"]
    check_error(proc.returncode, proc.stdout, proc.stderr, ERRORS[case][1])


def run_main(capsys, *args: str) -> tuple[int, str, str]:
    """``initsearch ARGS`` through the console entry point, in this process."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_show_errors_exit_2_with_one_clear_line(capsys, case):
    args, needles = ERRORS[case]
    check_error(*run_main(capsys, *SHOW_MLP, *args), needles)


def test_train_rejects_unknown_init_option(capsys):
    code, out, err = run_main(capsys, "train", "--data", "digits", "--option", "nope=1")
    check_error(code, out, err, ("nope", "gain"))


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["alpha=1.2"], {"alpha": 1.2}),
        (["iters=3", "progress=false"], {"iters": 3, "progress": False}),
        (["mode=fan_out"], {"mode": "fan_out"}),
        (["grid=[1, 2]"], {"grid": [1, 2]}),
        (["expr=a=b"], {"expr": "a=b"}),
        ([" gain = 2 "], {"gain": 2}),
        (None, {}),
    ],
)
def test_option_values_parse_as_json_else_text(items, expected):
    assert parse_init_options(items) == expected


@pytest.mark.parametrize("items", [["gain"], ["=1"], ["gain=1", "gain=2"]])
def test_malformed_options_are_config_errors(items):
    with pytest.raises(ConfigError, match="--option"):
        parse_init_options(items)


FACTORY = ("inits", "show", "--model-factory", "tests.test_discover:make_net", "--data", "digits")


def test_show_model_factory_prints_the_discovered_layers(capsys):
    code, out, err = run_main(capsys, *FACTORY, "--model-kwargs", '{"width": 4}')
    assert code == 0, err
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if "│" in line}
    cells = [c.strip() for c in rows["0"].split("│")[1:-1]]
    assert cells == ["0", "Conv2d", "0", "9", "36", "relu", "1.414"]
    cells = [c.strip() for c in rows["6"].split("│")[1:-1]]
    assert cells == ["6", "Linear", "2", "4", "10", "linear", "1"]
    for key in ("reused: none", "unused: none", "unsupported: none"):
        assert key in out


def test_show_model_factory_json_and_errors(capsys):
    code, out, err = run_main(capsys, *FACTORY, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["model"] == "tests.test_discover:make_net"
    assert result["input_shape"] == [1, 8, 8]
    assert [(r["name"], r["depth"], r["activation"]) for r in result["layers"]] == [
        ("0", 0, "relu"),
        ("2", 1, "relu"),
        ("6", 2, "linear"),
    ]
    assert result["layers"][0]["fan_in"] == 9 and result["layers"][0]["gain"] == pytest.approx(
        2**0.5
    )
    assert result["unsupported"] == result["unused"] == result["reused"] == []
    check_error(*run_main(capsys, *FACTORY, "--model-kwargs", "[1]"), ("--model-kwargs", "JSON"))
    check_error(
        *run_main(capsys, *FACTORY[:-1], "mnist1d"), ("forward on a sample batch", "--data")
    )
