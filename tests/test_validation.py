"""Every mistake in a study file or on the command line fails before anything starts.

Each case runs the real command line in this process and expects exit status 2, one line
naming the problem (credentials redacted), Ray not started, and no study folder or MLflow
database created: a typo must not burn a budget or leave half a study behind.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import ray
import yaml

from initsearch.cli import main
from initsearch.errors import ConfigError
from initsearch.store_checks import check_database
from initsearch.stores import open_storage, storage_url
from tests.pg import PASSWORD, pg_server  # noqa: F401

NAME = "valid"
PG_SECRET = "s3cr3t-pw-123"


def study_file(folder: Path, name: str = NAME, **sections: Any) -> Path:
    """A tiny study (digits, a 2-layer MLP) with ``sections`` merged in, its workdir in
    ``folder``."""
    raw: dict[str, Any] = {
        "name": name,
        "data": {"name": "digits"},
        "model": {"name": "mlp", "depth": 2, "width": 16},
        "train": {"epochs": 1, "batch_size": 64},
        "baselines": {"schemes": ["kaiming", "emergence"], "emergence_alphas": [1.1]},
        "pruner": {"name": "none"},
        "budget": {"trials": 2},
        "confirm": {"after_search": False},
        "workdir": str(folder / "runs"),
    }
    for key, value in sections.items():
        raw[key] = {**raw[key], **value} if isinstance(raw.get(key), dict) else value
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run(capsys, *argv: str) -> tuple[int, str]:
    """Exit status and stderr of the command line; Ray must not have been started."""
    with pytest.raises(SystemExit) as exited:
        main(list(argv))
    err = capsys.readouterr().err
    assert not ray.is_initialized()
    return exited.value.code, err


def one_line(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in err
    return lines[0]


def nothing_created(folder: Path, name: str = NAME) -> None:
    assert not (folder / "runs" / name).exists(), "a study folder or MLflow DB was created"


@pytest.mark.parametrize(
    ("sections", "needles"),
    [
        (
            {"search": {"base_init": "kaimng"}},
            ["search.base_init: unknown init scheme 'kaimng'; did you mean 'kaiming'?"],
        ),
        (
            {"baselines": {"schemes": ["kaiming", "xavir"]}},
            ["baselines.schemes: unknown init scheme 'xavir'"],
        ),
        (
            {"baselines": {"options": {"gradnit": {"iters": 5}}}},
            ["baselines.options: unknown init scheme 'gradnit'"],
        ),
        (
            {"baselines": {"options": {"gradinit": {"iter": 5}}}},
            ["baselines.options.gradinit: init scheme 'gradinit' has no option 'iter'", "iters"],
        ),
        (
            {"baselines": {"options": {"emergence": {"base": "kaimin"}}}},
            ["baselines.options.emergence: unknown init scheme 'kaimin'"],
        ),
        (
            {"search": {"base_init": "lps"}},
            ["search.base_init 'lps' cannot be the base of baseline 'emergence'", "xavier"],
        ),
        ({"name": ".."}, ["name: '..' is no safe folder name"]),
        ({"name": "."}, ["name: '.' is no safe folder name"]),
        ({"name": "a/b"}, ["name: 'a/b' is no safe folder name"]),
        ({"train": {"lr": float("inf")}}, ["train.lr: Input should be a finite number"]),
        ({"train": {"lr": float("nan")}}, ["train.lr: Input should be a finite number"]),
        ({"train": {"momentum": 5}}, ["train.momentum: Input should be less than 1"]),
        ({"train": {"weight_decay": -0.1}}, ["train.weight_decay"]),
        ({"budget": {"trials": 0}}, ["budget.trials: Input should be greater than or equal to 1"]),
    ],
)
def test_study_file_mistakes(tmp_path, capsys, sections, needles):
    name = sections.get("name", NAME)
    code, err = run(capsys, "study", "start", str(study_file(tmp_path, **sections)))
    one_line(code, err, *needles)
    nothing_created(tmp_path, name if "/" not in name else NAME)
    assert [p.name for p in (tmp_path).iterdir()] == ["study.yaml"]


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--trials", "0"], "budget.trials: Input should be greater than or equal to 1"),
        (["--trials", "-5"], "budget.trials: Input should be greater than or equal to 1"),
        (["--workers", "0"], "ray.workers: Input should be greater than or equal to 1"),
    ],
)
def test_study_start_flags_are_checked_like_the_file(tmp_path, capsys, flags, needle):
    line = one_line(*run(capsys, "study", "start", str(study_file(tmp_path)), *flags), needle)
    assert f"with {needle.split(':')[0]}=" in line  # names the override
    nothing_created(tmp_path)


def test_the_valid_files_of_the_repository_still_load():
    from initsearch.config import load_study

    root = Path(__file__).resolve().parents[1]
    files = sorted([*root.glob("studies/*.yaml"), *root.glob("examples/*.yaml")])
    assert files
    for path in files:
        load_study(path)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--lr", "inf"], "learning rate must be a finite number > 0, got inf"),
        (["--lr", "nan"], "learning rate must be a finite number > 0, got nan"),
        (["--momentum", "5"], "momentum must be a finite number in [0, 1), got 5"),
        (["--weight-decay", "-1"], "weight decay must be a finite number >= 0"),
        (["--init", "gradinit", "--option", "iter=3"], "has no option 'iter'"),
    ],
)
def test_train_flags(capsys, flags, needle):
    code, err = run(capsys, "train", "--data", "digits", "--epochs", "1", *flags)
    one_line(code, err, needle)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("key", ["storage", "tracking_uri"])
def test_a_closed_database_port_fails_fast_and_redacted(tmp_path, capsys, key):
    url = f"postgresql+psycopg2://someone:{PG_SECRET}@127.0.0.1:{free_port()}/db"
    started = time.monotonic()
    code, err = run(capsys, "study", "start", str(study_file(tmp_path, **{key: url})))
    assert time.monotonic() - started < 10
    line = one_line(code, err, f"cannot reach the {key} database", "someone:***@127.0.0.1")
    assert "refused" in line.lower()
    assert PG_SECRET not in err
    nothing_created(tmp_path)


def test_a_live_server_passes_and_a_wrong_password_is_redacted(pg_server):  # noqa: F811
    check_database(pg_server.url, "storage")
    wrong = pg_server.url.replace(PASSWORD, PG_SECRET)
    with pytest.raises(ConfigError) as failed:
        check_database(wrong, "storage")
    text = str(failed.value)
    assert "password authentication failed" in text and PG_SECRET not in text
    assert "\n" not in text


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """``folder`` read-only for this process for the block (root writes anywhere, so as root
    the block runs as ``nobody``)."""
    folder.chmod(0o555)
    root = os.geteuid() == 0
    if root:
        nobody = pwd.getpwnam("nobody")
        os.setegid(nobody.pw_gid)
        os.seteuid(nobody.pw_uid)
    try:
        yield
    finally:
        if root:
            os.seteuid(0)
            os.setegid(0)
        folder.chmod(0o755)


def test_a_read_only_workdir_is_named(capsys):
    import initsearch.api  # noqa: F401  (imported while this process may read everything)
    import initsearch.cli.study_cmd  # noqa: F401

    folder = Path(tempfile.mkdtemp(prefix="initsearch-ro-", dir="/tmp"))
    try:
        folder.chmod(0o755)  # `nobody` reads the study file
        path = study_file(folder)
        (folder / "runs").mkdir()
        with unwritable(folder / "runs"):
            code, err = run(capsys, "study", "start", str(path))
        one_line(code, err, f"cannot write the study folder {folder / 'runs' / NAME}")
        assert str(folder / "runs") in err and "Permission denied" in err
        nothing_created(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_file_where_the_workdir_should_be_is_named(tmp_path, capsys):
    (tmp_path / "runs").write_text("not a folder")
    code, err = run(capsys, "study", "start", str(study_file(tmp_path)))
    one_line(code, err, f"{tmp_path / 'runs'} is a file, not a folder")


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--seeds", "0"], "--seeds must be at least 1, got 0"),
        (["--epochs", "0"], "--epochs must be at least 1, got 0"),
        (["--target", "inf"], "--target must be an accuracy in (0, 1]"),
        (["--alphas", "nan"], "emergence alphas must be numbers > 0"),
        (["--schemes", "kaiming,nosuch"], "unknown scheme 'nosuch'"),
    ],
)
def test_compare_flags(tmp_path, capsys, flags, needle):
    code, err = run(capsys, "compare", str(study_file(tmp_path)), "--inline", *flags)
    one_line(code, err, needle)
    nothing_created(tmp_path)


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--top", "0"], "confirm.top_k: Input should be greater than or equal to 1"),
        (["--seeds", "1"], "confirm.seeds: Input should be greater than or equal to 2"),
        (["--workers", "-2"], "ray.workers: Input should be greater than or equal to 1"),
    ],
)
def test_study_confirm_flags(tmp_path, capsys, flags, needle):
    path = study_file(tmp_path)
    url = storage_url(None, tmp_path / "runs", NAME)
    optuna.create_study(study_name=NAME, storage=open_storage(url), direction="maximize")
    code, err = run(capsys, "study", "confirm", str(path), *flags)
    one_line(code, err, needle)
    assert sorted(p.name for p in (tmp_path / "runs" / NAME).iterdir()) == ["optuna.journal"]


def test_cluster_submit_flags_fail_before_connecting(tmp_path, capsys):
    code, err = run(
        capsys, "cluster", "submit", str(study_file(tmp_path)), "--trials", "0",
        "--address", "127.0.0.1:1",
    )  # fmt: skip
    one_line(code, err, "budget.trials: Input should be greater than or equal to 1")
