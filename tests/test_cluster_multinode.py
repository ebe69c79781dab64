"""Studies as Ray jobs on a real multi-node cluster (tests/raycluster.py): a head node and two
worker nodes, each its own ``ray start`` process on this machine, with token authentication,
and a real PostgreSQL server for the study's Optuna storage and MLflow tracking.

Commands run as a user runs them, ``python -m initsearch cluster ...`` in a subprocess (in this
process where start-up time matters). The tests run in file order on one cluster; the last one
kills a worker node for good.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from initsearch.cluster.client import connect
from initsearch.cluster.jobs import wait
from initsearch.cluster.stores import alive_node_ips, check_one_machine
from initsearch.run.ledger import counts_toward_budget
from initsearch.stores import open_storage
from tests import pg
from tests.raycluster import LocalCluster, local_cluster
from tests.studyutil import tiny_study
from tests.test_study_cli import baseline_counts, wait_until, write_study

pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
CLI_TIMEOUT_S = 120
JOB_TIMEOUT_S = 300  # a whole study as a job on the 2-core machine, generous
pg_server = pg.pg_server


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(("a", "b")) as running:
        yield running


def cli_env(home: Path | None = None) -> dict[str, str]:
    """The user's environment: no Ray address or token unless a test gives one."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("RAY_AUTH", "RAY_ADDRESS", "RAY_API_SERVER"))
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    if home is not None:
        env["HOME"] = str(home)  # no ~/.ray/auth_token there
    return env


def initsearch(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "initsearch", *args],
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
    )


def initsearch_here(capsys, *args: str) -> tuple[int, str]:
    """``initsearch ARGS`` in this process, as the console script runs it: (status, output)."""
    from initsearch.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return exited.value.code, captured.out + captured.err


def submit(cluster: LocalCluster, file: Path, *extra: str) -> str:
    done = initsearch(
        "cluster", "submit", str(file), "--address", cluster.address,
        "--token-file", str(cluster.token_file), *extra,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def job_logs(cluster: LocalCluster, job: str) -> str:
    done = initsearch(
        "cluster", "logs", job, "--address", cluster.address,
        "--token-file", str(cluster.token_file),
    )  # fmt: skip
    return done.stdout[-4000:] + done.stderr[-2000:]


def wait_job(cluster: LocalCluster, job: str, timeout: float = JOB_TIMEOUT_S) -> str:
    view = wait(connect(cluster.address, str(cluster.token_file)), job, timeout=timeout)
    return view.status


def load(url: str, name: str) -> optuna.Study | None:
    """The study as stored now (one cached storage per URL: polling opens no connections)."""
    try:
        return optuna.load_study(study_name=name, storage=open_storage(url))
    except KeyError:
        return None


def slow_study(tmp_path: Path, name: str, storage: str, tracking: str, **overrides):
    """Trials of several seconds on one CPU (a 4x512 MLP, 40 epochs of digits): long enough
    that a node lost while trials run takes one down mid-training."""
    raw = {
        "model": {"name": "mlp", "depth": 4, "width": 512},
        "train": {"epochs": 40, "batch_size": 32, "lr": 0.02},
        "storage": storage,
        "tracking_uri": tracking,
        "ray": {"cpus_per_trial": 1, "pack": 1},  # one trial per task: a lost node loses one
    }
    for key, value in overrides.items():
        raw[key] = {**raw[key], **value} if isinstance(raw.get(key), dict) else value
    cfg = tiny_study(tmp_path, name=name, **raw)
    return cfg, write_study(cfg, tmp_path / f"{name}.yaml")


def test_submission_needs_the_cluster_token(cluster, tmp_path):
    """The cluster runs with RAY_AUTH_MODE=token: no token, or a wrong one, is refused with a
    one-line error naming the fix; the right one is accepted."""
    no_token = initsearch(
        "cluster", "list", "--address", cluster.address, env=cli_env(home=tmp_path)
    )
    assert no_token.returncode == 2, no_token.stderr
    assert "requires a token" in no_token.stderr and "--token-file" in no_token.stderr
    assert len(no_token.stderr.strip().splitlines()) == 1
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token")
    refused = initsearch(
        "cluster", "list", "--address", cluster.address, "--token-file", str(wrong),
        env=cli_env(home=tmp_path),
    )  # fmt: skip
    assert refused.returncode == 2
    assert f"refused the token from --token-file {wrong}" in refused.stderr
    env = {**cli_env(home=tmp_path), "RAY_AUTH_TOKEN_PATH": str(cluster.token_file)}
    accepted = initsearch("cluster", "list", "--address", cluster.address, env=env)
    assert accepted.returncode == 0, accepted.stderr
    assert "no study jobs" in accepted.stdout
    unknown = initsearch("cluster", "status", "initsearch-nope-1", "--address", cluster.address,
                         env=env)  # fmt: skip
    assert unknown.returncode == 2
    assert "no job 'initsearch-nope-1' on the cluster" in unknown.stderr


def test_a_gpu_study_on_a_cluster_without_gpus_fails_fast(cluster, tmp_path, pg_server):
    url = pg_server.create_database()
    _, file = slow_study(
        tmp_path, "gpu", url, pg_server.create_database(), ray={"gpus_per_trial": 1}
    )
    job = submit(cluster, file)
    assert job == "initsearch-gpu-1"
    started = time.monotonic()
    done = initsearch(
        "cluster", "status", job, "--wait", "--address", cluster.address,
        "--token-file", str(cluster.token_file),
    )  # fmt: skip
    took = time.monotonic() - started
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"job {job}: FAILED" in done.stdout
    assert "reason: the study asks for 1.0 GPU per trial but the Ray cluster has no GPU" in (
        done.stdout
    )
    assert took < 90, f"the job took {took:.0f} s to fail"
    assert load(url, "gpu") is None  # it failed before creating the study
    logs = initsearch(
        "cluster", "logs", job, "--follow", "--address", cluster.address,
        "--token-file", str(cluster.token_file),
    )  # fmt: skip
    assert logs.returncode == 1  # --follow: the job's outcome
    assert "error: the study asks for 1.0 GPU per trial" in logs.stdout
    listed = initsearch(
        "cluster", "list", "--address", cluster.address, "--token-file", str(cluster.token_file)
    )
    assert re.search(rf"^{job}\s+FAILED\s+.*\sgpu$", listed.stdout, re.M), listed.stdout


def test_file_stores_are_accepted_when_every_node_is_on_this_machine(cluster):
    """The nodes come from Ray's state API: here all three share this machine's IP, so a
    study with the default file stores may run (the loopback address alone would not say)."""
    ips = alive_node_ips(connect(cluster.address, str(cluster.token_file)))
    assert len(ips) == 3 and len(set(ips)) == 1
    check_one_machine(cluster.address, "s.yaml", ["storage", "tracking_uri"], ips)


POOL_PROBE = """
import sys
from initsearch.errors import ConfigError
from initsearch.run.pool import RayPool

address = sys.argv[1]
pool = RayPool(address=address)
print("workers", pool.workers)
pool.shutdown()
try:
    RayPool(address=address, cpus_per_trial=2)
except ConfigError as err:
    print("refused", err)
"""


def test_a_driver_outside_the_cluster_connects_with_the_exported_token(cluster, tmp_path):
    """`study start --ray-address HEAD:6379` from a shell that exported only the token file:
    token mode is turned on for it; trials at once are counted node by node; a trial no node
    can hold is refused at once."""
    env = {**cli_env(home=tmp_path), "RAY_AUTH_TOKEN_PATH": str(cluster.token_file)}
    done = subprocess.run(
        [sys.executable, "-c", POOL_PROBE, f"127.0.0.1:{cluster.gcs_port}"],
        env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "workers 2" in done.stdout  # one 1-CPU trial on each worker node, none on the head
    assert "refused no node of the Ray cluster fits one trial (2 CPU and 0 GPU per trial" in (
        done.stdout
    )


def running_by_node(url: str, name: str) -> dict[str, list[optuna.trial.FrozenTrial]]:
    study = load(url, name)
    found: dict[str, list] = {}
    for t in study.get_trials(states=(TrialState.RUNNING,)) if study else []:
        if "node_id" in t.user_attrs:
            found.setdefault(t.user_attrs["node_id"], []).append(t)
    return found


def test_stopped_job_resumes_when_submitted_again(cluster, tmp_path, pg_server, capsys):
    """`cluster stop` interrupts the driver like Ctrl-C (running trials failed and enqueued
    again); submitting the study again takes the next job id and finishes the budget."""
    url = pg_server.create_database()
    baselines = {"schemes": ["kaiming"]}
    cfg, file = slow_study(
        tmp_path, "resume", url, pg_server.create_database(),
        baselines=baselines, budget={"trials": 2}, train={"epochs": 80},
    )  # fmt: skip
    first = submit(cluster, file)
    assert first == "initsearch-resume-1"
    again = initsearch(
        "cluster", "submit", str(file), "--address", cluster.address,
        "--token-file", str(cluster.token_file),
    )  # fmt: skip
    assert again.returncode == 2, again.stderr
    assert f"job {first} of study resume is still" in again.stderr
    assert wait_until(lambda: running_by_node(url, "resume"), 120), job_logs(cluster, first)
    # in this process (no interpreter start-up): the stop must land while the trials train
    code, output = initsearch_here(
        capsys, "cluster", "stop", first, "--address", cluster.address,
        "--token-file", str(cluster.token_file),
    )  # fmt: skip
    assert code == 0, output
    assert f"job {first}: STOPPED" in output
    interrupted = [t for t in load(url, "resume").get_trials() if t.state == TrialState.FAIL]
    assert interrupted, job_logs(cluster, first)
    assert all(t.user_attrs["reason"] == "interrupted by the user" for t in interrupted)
    assert not load(url, "resume").get_trials(states=(TrialState.RUNNING,))

    second = submit(cluster, file)
    assert second == "initsearch-resume-2"
    assert wait_job(cluster, second) == "SUCCEEDED", job_logs(cluster, second)
    trials = load(url, "resume").get_trials()
    assert sum(counts_toward_budget(t) for t in trials) == cfg.budget.trials
    assert baseline_counts(trials) == {"kaiming": 1}
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    assert retried == {t.number for t in interrupted}


def test_a_study_of_the_users_own_code_ships_it_with_the_job(cluster, tmp_path, pg_server):
    """examples/digits_cnn: the model factory's module is next to the study file, not
    installed; `cluster submit` sends it with the job and the trials on the worker nodes
    import it. The study runs its baselines, the search and the confirmation to a verdict."""
    from initsearch.contract import STUDY_VERDICT

    lab = tmp_path / "lab"
    lab.mkdir()
    shutil.copy(EXAMPLES / "digits_cnn.py", lab / "digits_cnn.py")
    raw = yaml.safe_load((EXAMPLES / "digits_cnn.yaml").read_text())
    url = pg_server.create_database()
    raw.update(
        storage=url,
        tracking_uri=pg_server.create_database(),
        baselines={"schemes": ["kaiming", "xavier"]},
        budget={"trials": 4, "seeds_per_trial": 1},
        confirm={"top_k": 1, "seeds": 2},
        ray={"cpus_per_trial": 1, "pack": 1},
    )
    file = lab / "digits_cnn.yaml"
    file.write_text(yaml.safe_dump(raw))
    job = submit(cluster, file)
    assert wait_job(cluster, job) == "SUCCEEDED", job_logs(cluster, job)
    study = load(url, "digits_cnn")
    trials = study.get_trials()
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    assert {t.user_attrs["node_id"] for t in trials} <= set(cluster.node_ids().values())
    assert study.user_attrs["layer_names"] == ["features.0", "features.2", "head"]
    assert study.user_attrs[STUDY_VERDICT]["verdict"]["best_baseline"] in ("kaiming", "xavier")


def test_a_study_survives_a_lost_worker_node(cluster, tmp_path, pg_server):
    """Trials run on both worker nodes; one node is killed mid-study; its trial fails as lost
    and is retried once on the other node; the job succeeds with every trial counted once."""
    url, tracking = pg_server.create_database(), pg_server.create_database()
    cfg, file = slow_study(tmp_path, "lost", url, tracking, budget={"trials": 4})
    nodes = cluster.node_ids()
    head = cluster.head_node_id()
    job = submit(cluster, file)
    assert job == "initsearch-lost-1"

    def on_both_nodes() -> dict[str, list[optuna.trial.FrozenTrial]] | None:
        running = running_by_node(url, "lost")
        return running if running.keys() >= set(nodes.values()) else None

    both = wait_until(on_both_nodes, 180)
    assert both, f"trials never ran on both nodes at once:\n{job_logs(cluster, job)}"
    # the victim: the node whose running trial started last (the furthest from its end)
    victim_id = max(both, key=lambda n: max(t.datetime_start for t in both[n]))
    victim = next(name for name, node_id in nodes.items() if node_id == victim_id)
    survivor_id = next(node_id for node_id in nodes.values() if node_id != victim_id)
    lost = {t.number for t in both[victim_id]}
    cluster.kill_node(victim)
    assert not cluster.processes(victim)

    assert wait_job(cluster, job) == "SUCCEEDED", job_logs(cluster, job)
    trials = load(url, "lost").get_trials()
    by_number = {t.number: t for t in trials}
    # every trial ran somewhere known, never on the head; both workers ran trials
    assert all(t.user_attrs.get("node_id") in nodes.values() for t in trials)
    assert head not in {t.user_attrs["node_id"] for t in trials}
    assert {t.user_attrs["node_id"] for t in trials} == set(nodes.values())
    # the trial(s) on the lost node: failed as lost, retried exactly once, on the survivor
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert {t.number for t in failed} == lost
    for t in failed:
        assert t.user_attrs["node_id"] == victim_id
        # Ray reports the node's death (or, first, its worker's)
        assert re.match(r"worker lost: (NodeDiedError|WorkerCrashedError)", t.user_attrs["reason"])
        retries = [r for r in trials if r.user_attrs.get("retry_of") == t.number]
        assert len(retries) == 1
        assert retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
        assert retries[0].user_attrs["node_id"] == survivor_id
        assert retries[0].params == t.params
    # nothing lost, nothing counted twice
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    assert sum(counts_toward_budget(t) for t in trials) == cfg.budget.trials
    assert baseline_counts(trials) == {"kaiming": 1, "xavier": 1, "emergence(alpha=1.1)": 1}
    assert sorted(by_number) == list(range(len(trials)))
    # MLflow on PostgreSQL: the study's parent run and a child run per trial that ended with a
    # result, tagged with its node and the worker-side start and end of its training
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    experiment = client.get_experiment_by_name("initsearch/lost")
    runs = client.search_runs([experiment.experiment_id])
    roles = Counter(r.data.tags.get("initsearch.kind") for r in runs)
    assert roles == {"study": 1, "trial": len(trials)}  # every trial, a lost one too, has a run
    by_run = {r.info.run_id: r for r in runs}
    for t in failed:  # the lost trial's run says so
        run = by_run[t.user_attrs["mlflow_run_id"]]
        assert run.info.status == "FAILED"
        assert run.data.tags["initsearch.reason"].startswith("worker lost")
    # one CPU per trial, one CPU per node: a node never trained two trials at once
    for node_id in nodes.values():
        spans = sorted(
            (r.info.start_time, r.info.end_time)
            for r in runs
            if r.data.tags.get("initsearch.node_id") == node_id
        )
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), spans
        assert spans or node_id == victim_id, f"no MLflow run of node {node_id}"
