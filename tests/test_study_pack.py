"""Packs inside studies: the driver asks Optuna for a pack of trials, one Ray task trains them,
every member is reported, pruned and recorded on its own, and a pack gives the same values as
trials trained one by one."""

from __future__ import annotations

import pytest
from optuna.trial import TrialState

from initsearch.config import RayConfig
from initsearch.data import load_dataset
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.run.pool import InlinePool, RayPool
from initsearch.search.study import study_driver
from initsearch.stores import recorded_tracking_uri
from initsearch.train import Budget, TrialSpec
from initsearch.train.pack_size import CPU_PACK, auto_pack_size, member_bytes
from tests.studyutil import tiny_study

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_runtime():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_a_packed_study_records_every_member_and_prunes_them_one_by_one(tmp_path, ray_runtime):
    from mlflow import MlflowClient

    cfg = tiny_study(
        tmp_path,
        ray={"pack": 8},
        train={"epochs": 4},
        pruner={"name": "median", "startup_trials": 2, "warmup_epochs": 1},
        budget={"trials": 12},
    )
    driver = study_driver(cfg, RayPool(workers=2))
    driver.run()
    trials = driver.study.get_trials()
    assert driver.pack_size == 8
    assert len(trials) == 12
    assert {t.state for t in trials} <= {TrialState.COMPLETE, TrialState.PRUNED}
    # the three baselines run to the end; searched members are pruned one by one
    baselines = [t for t in trials if "baseline" in t.user_attrs]
    assert len(baselines) == 3 and all(t.state == TrialState.COMPLETE for t in baselines)
    for t in trials:
        steps = sorted(t.intermediate_values)
        assert steps == list(range(1, len(steps) + 1)), "every member reports its own epochs"
        if t.state == TrialState.PRUNED:
            assert t.user_attrs["reason"] == "pruned by the study's pruner"
            assert len(steps) < 4
        else:
            assert len(steps) == 4
    # 12 trials over 2 workers: two packs of 6 (not 8 + 4), each in one worker process
    assert len({t.user_attrs["pid"] for t in trials}) <= 2
    client = MlflowClient(tracking_uri=recorded_tracking_uri(driver.study, cfg.workdir))
    experiment = client.get_experiment_by_name("initsearch/tiny")
    children = [
        r
        for r in client.search_runs([experiment.experiment_id])
        if r.data.tags.get("initsearch.kind") == "trial"
    ]
    assert len(children) == 12
    assert {r.data.params["pack_size"] for r in children} == {"6"}


def test_packed_and_one_by_one_studies_give_the_baselines_the_same_values(tmp_path):
    values = {}
    for pack in (1, 3):
        cfg = tiny_study(tmp_path / f"pack{pack}", ray={"pack": pack}, budget={"trials": 3})
        driver = study_driver(cfg, InlinePool())
        driver.run()
        trials = driver.study.get_trials()
        assert driver.pack_size == pack
        values[pack] = {t.user_attrs["baseline"]: t.value for t in trials}
    assert values[1].keys() == values[3].keys()
    for name, value in values[1].items():  # final accuracy on 359 test digits
        assert values[3][name] == pytest.approx(value, abs=2 / 359 + 1e-9), name


def test_a_member_whose_init_fails_fails_alone(tmp_path):
    """The pack cannot build, so its members run one by one: only the culprit fails."""
    cfg = tiny_study(
        tmp_path,
        ray={"pack": 3},
        baselines={
            "schemes": ["kaiming", "emergence", "xavier"],
            "emergence_alphas": [1.1],
            "options": {"emergence": {"pivot": 999}},
        },
        budget={"trials": 3},
    )
    driver = study_driver(cfg, InlinePool())
    driver.run()
    states = {t.user_attrs["baseline"]: t.state for t in driver.study.get_trials()}
    assert states == {
        "kaiming": TrialState.COMPLETE,
        "emergence(alpha=1.1)": TrialState.FAIL,
        "xavier": TrialState.COMPLETE,
    }


def test_auto_pack_size_follows_model_size_on_cpu():
    data = load_dataset("digits")

    def spec(depth: int, width: int, batch: int = 128) -> TrialSpec:
        return TrialSpec(
            model=ModelSpec("mlp", depth=depth, width=width),
            init=InitSpec(),
            budget=Budget(batch_size=batch),
        )

    assert auto_pack_size(spec(2, 32), data) == CPU_PACK  # overhead-bound: pack
    assert auto_pack_size(spec(8, 512), data) == 1  # compute-bound on a CPU: alone
    small, _ = member_bytes(spec(2, 32, batch=64), data)
    large, _ = member_bytes(spec(2, 32, batch=256), data)
    assert large > small  # activations grow with the batch


def test_pack_setting_is_validated():
    assert RayConfig().pack == "auto"
    assert RayConfig(pack=16).pack == 16
    with pytest.raises(ConfigError, match="ray.pack"):
        tiny_study("runs", ray={"pack": 0})
