"""The stores' default locations, kinds, existence checks and paths recorded in a study."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from initsearch import stores
from initsearch.errors import ConfigError


def test_defaults_live_in_the_study_folder(tmp_path):
    folder = (tmp_path / "s").resolve()
    assert stores.study_dir(tmp_path, "s") == tmp_path / "s"
    assert stores.storage_url(None, tmp_path, "s") == f"journal://{folder / 'optuna.journal'}"
    assert stores.tracking_uri(None, tmp_path, "s") == f"sqlite:///{folder / 'mlflow.db'}"
    assert stores.storage_url("postgresql://h/db", tmp_path, "s") == "postgresql://h/db"
    assert stores.tracking_uri("http://mlflow:5000", tmp_path, "s") == "http://mlflow:5000"


def test_kinds_of_store():
    assert stores.is_embedded("journal:///x") and stores.is_embedded("sqlite:///x.db")
    assert not stores.is_embedded("postgresql+psycopg2://u:p@h/db")
    assert stores.is_embedded_tracking("mlruns") and stores.is_embedded_tracking("file:///m")
    assert not stores.is_embedded_tracking("databricks") and not stores.is_embedded_tracking(
        "http://h:5000"
    )
    assert stores.is_tracking_server("https://h") and not stores.is_tracking_server("sqlite:///x")
    assert stores.local_file("sqlite:///:memory:") is None
    assert stores.local_file("sqlite:////a/b.db?mode=ro") == Path("/a/b.db")
    assert stores.redact("postgresql://me:secret@db/x") == "postgresql://me:***@db/x"


def test_absolute_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    here = tmp_path.resolve()
    assert stores.absolute("journal://a/o.journal") == f"journal://{here / 'a/o.journal'}"
    assert stores.absolute("sqlite:///m.db") == f"sqlite:///{here / 'm.db'}"
    assert stores.absolute("mlruns") == str(here / "mlruns")
    for kept in ("sqlite:////abs/m.db", "sqlite:///:memory:", "postgresql://h/db"):
        assert stores.absolute(kept) == kept


def test_recorded_paths_are_relative_to_the_study_folder(tmp_path):
    folder = tmp_path / "runs" / "s"
    inside = stores.tracking_uri(None, tmp_path / "runs", "s")
    assert stores.recorded_uri(inside, folder) == "sqlite:///./mlflow.db"
    journal = stores.storage_url(None, tmp_path / "runs", "s")
    assert stores.recorded_uri(journal, folder) == "journal://./optuna.journal"
    elsewhere = f"sqlite:///{tmp_path.resolve() / 'other.db'}"
    for kept in (elsewhere, "postgresql://u:p@h/db", "http://h:5000", "sqlite:///:memory:"):
        assert stores.recorded_uri(kept, folder) == kept
        assert stores.resolve_recorded(kept, folder) == kept
    moved = tmp_path / "moved" / "s"
    assert stores.resolve_recorded("sqlite:///./mlflow.db", moved) == (
        f"sqlite:///{moved.resolve() / 'mlflow.db'}"
    )
    assert stores.resolve_recorded(stores.recorded_uri(journal, folder), folder) == journal
    assert stores.resolve_recorded("./mlruns", moved) == str(moved.resolve() / "mlruns")


def test_missing_stores_are_reported_not_created(tmp_path):
    journal = f"journal://{tmp_path / 'none.journal'}"
    assert not stores.storage_exists(journal) and stores.storage_exists("postgresql://h/db")
    with pytest.raises(ConfigError, match="no Optuna storage"):
        stores.check_storage_exists(journal)
    with pytest.raises(ConfigError, match="no MLflow tracking store"):
        stores.check_tracking_exists(f"sqlite:///{tmp_path / 'none.db'}")
    stores.check_tracking_exists("http://h:5000")
    assert stores.load_study_if_present(journal, "s") is None
    assert not (tmp_path / "none.journal").exists()


def test_load_study_if_present(tmp_path):
    url = f"journal://{tmp_path / 'o.journal'}"
    optuna.create_study(study_name="s", storage=stores.open_storage(url))
    assert stores.open_storage(url) is stores.open_storage(url)  # cached per process
    assert stores.load_study_if_present(url, "s").study_name == "s"
    assert stores.load_study_if_present(url, "other") is None


def _schema(db: Path) -> tuple[str, list]:
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        rows = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
    finally:
        conn.close()
    # MLflow's own migrations list a table's constraints in no fixed order: compare line sets
    return version, [(name, sorted((sql or "").replace(",", "").split("\n"))) for name, sql in rows]


def test_new_tracking_database_is_a_copy_of_the_migrated_template(tmp_path, monkeypatch):
    """A study's new mlflow.db is copied from a template migrated once per MLflow version;
    MLflow opens the copy (its schema check passes) exactly as a database it migrated itself,
    Default experiment included, and a database that exists is never replaced."""
    from mlflow import MlflowClient

    from initsearch.tracking.seed import CACHE_ENV, seed_tracking_db, template_path

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    seeded, fresh = tmp_path / "s" / "mlflow.db", tmp_path / "fresh" / "mlflow.db"
    assert seed_tracking_db(f"sqlite:///{seeded}")
    assert template_path().is_file() and template_path().parent == tmp_path / "cache"
    assert not seed_tracking_db(f"sqlite:///{seeded}")  # there already
    fresh.parent.mkdir()
    MlflowClient(tracking_uri=f"sqlite:///{fresh}").search_experiments()  # MLflow migrates
    assert _schema(seeded) == _schema(fresh)

    client = MlflowClient(tracking_uri=f"sqlite:///{seeded}")
    default = client.get_experiment("0")
    assert default.artifact_location == client_default_location(fresh)
    run = client.create_run(client.create_experiment("initsearch/s"))
    client.log_metric(run.info.run_id, "val_accuracy", 0.5, step=1)
    assert client.get_run(run.info.run_id).data.metrics == {"val_accuracy": 0.5}

    other = tmp_path / "other.db"
    other.write_bytes(b"not mine")
    assert not seed_tracking_db(f"sqlite:///{other}") and other.read_bytes() == b"not mine"
    assert not seed_tracking_db("http://localhost:5000") and not seed_tracking_db(
        f"sqlite:///{tmp_path / 'x.db'}?mode=ro"
    )


def client_default_location(db: Path) -> str:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{db}").get_experiment("0").artifact_location


def test_unwritable_cache_leaves_the_database_to_mlflow(tmp_path, monkeypatch):
    from initsearch.tracking.seed import CACHE_ENV, seed_tracking_db

    (tmp_path / "file").write_text("")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "file" / "cache"))  # under a file: no folder
    target = tmp_path / "s" / "mlflow.db"
    assert not seed_tracking_db(f"sqlite:///{target}")
    assert not target.exists()
