"""``initsearch cluster`` without a cluster: addresses, tokens, which stores a cluster can
reach, resource fitting, job ids, and the SLURM and KubeRay recipes. The real cluster runs in
tests/test_cluster_multinode.py.

The SLURM batch script is run for real by bash, on a fake allocation: ``scontrol``, ``srun``,
``hostname``, ``ray``, ``python`` and ``initsearch`` are small programs on PATH that log what
they are asked to do, so the test sees which command runs on which node, in which order, with
which environment, and what a SIGINT to the batch script does.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from initsearch.cli.app import app
from initsearch.cluster.auth import find_token
from initsearch.cluster.client import is_local_address, normalize_address
from initsearch.cluster.jobs import job_id, reason, study_jobs
from initsearch.cluster.stores import check_one_machine, check_reachable, embedded_stores
from initsearch.cluster.submit import entrypoint, parse_env, staged_config
from initsearch.errors import ConfigError
from initsearch.run.pool import check_fits, trial_slots
from initsearch.stores import is_embedded_tracking
from tests.studyutil import tiny_study
from tests.test_study_cli import write_study

REPO = Path(__file__).resolve().parents[1]
SBATCH = REPO / "scripts" / "slurm" / "initsearch-study.sbatch"
RAYJOB = REPO / "docs" / "kuberay-rayjob.yaml"
DOC = REPO / "docs" / "cluster.md"


def run_cli(capsys, *args: str) -> tuple[int, str]:
    """``initsearch ARGS`` in this process, as the console script runs it: (status, output)."""
    from initsearch.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return exited.value.code, captured.out + captured.err


# ---- addresses and tokens ------------------------------------------------------------------


def test_addresses_are_normalised_and_wrong_ones_named(monkeypatch):
    for var in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        monkeypatch.delenv(var, raising=False)
    assert normalize_address("head:8265") == "http://head:8265"
    assert normalize_address("https://ray.example.org/") == "https://ray.example.org"
    monkeypatch.setenv("RAY_ADDRESS", "http://10.0.0.5:8265")
    assert normalize_address(None) == "http://10.0.0.5:8265"
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "10.0.0.6:8265")
    assert normalize_address(None) == "http://10.0.0.6:8265"
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS")
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")  # a GCS address: not for jobs
    with pytest.raises(ConfigError, match="--address http://HEAD:8265"):
        normalize_address(None)
    with pytest.raises(ConfigError, match="GCS port"):
        normalize_address("http://head:6379")
    with pytest.raises(ConfigError, match="Ray Client address"):
        normalize_address("ray://head:10001")
    assert is_local_address("http://127.0.0.1:8265") and is_local_address("http://localhost:1")
    assert not is_local_address("http://10.1.2.3:8265")


def test_the_token_is_found_in_rays_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    assert find_token() is None
    default = tmp_path / ".ray" / "auth_token"
    default.parent.mkdir()
    default.write_text("from-default\n")
    assert find_token().value == "from-default"
    path = tmp_path / "token"
    path.write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    assert find_token().value == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    token = find_token()
    assert (token.value, token.source) == ("from-env", "RAY_AUTH_TOKEN")
    assert token.headers() == {"Authorization": "Bearer from-env"}
    given = tmp_path / "given"
    given.write_text("from-option")
    assert find_token(str(given)).value == "from-option"
    with pytest.raises(ConfigError, match="cannot read the Ray token file"):
        find_token(str(tmp_path / "missing"))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        find_token(str(tmp_path / "empty"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_cluster_is_one_clear_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for args in (("status", "initsearch-x-1"), ("logs", "initsearch-x-1"), ("list",)):
        code, output = run_cli(capsys, "cluster", *args, "--address", address)
        assert code == 2, output
        assert f"cannot reach a Ray dashboard at {address}" in output
        assert len(output.strip().splitlines()) == 1


# ---- which stores a cluster reaches ----------------------------------------------------------


def test_embedded_stores_are_refused_for_a_remote_cluster_before_connecting(tmp_path, capsys):
    cfg = tiny_study(tmp_path)  # default stores: a journal file and an SQLite tracking file
    file = write_study(cfg, tmp_path / "tiny.yaml")
    address = "http://192.0.2.77:8265"  # never contacted: the refusal comes first
    code, output = run_cli(capsys, "cluster", "submit", str(file), "--address", address)
    assert code == 2, output
    line = output.strip()
    assert len(line.splitlines()) == 1
    assert "storage and tracking_uri is a file on this machine" in line
    assert f"the cluster at {address} cannot reach" in line
    assert "postgresql+psycopg2://" in line


def test_which_stores_are_embedded():
    assert embedded_stores("journal:///x/optuna.journal", "sqlite:///x/mlflow.db") == [
        "storage",
        "tracking_uri",
    ]
    assert embedded_stores("postgresql+psycopg2://u:p@db/x", "http://mlflow:5000") == []
    assert embedded_stores("sqlite:///x.db", "postgresql+psycopg2://u:p@db/m") == ["storage"]
    assert is_embedded_tracking("mlruns") and is_embedded_tracking("file:///tmp/mlruns")
    assert not is_embedded_tracking("databricks") and not is_embedded_tracking("databricks://p")
    check_reachable("http://10.0.0.1:8265", "s.yaml", [])  # server stores: any cluster
    check_reachable("http://127.0.0.1:8265", "s.yaml", ["storage"])  # this machine: maybe
    with pytest.raises(ConfigError, match="nodes on other machines"):
        check_one_machine("http://127.0.0.1:8265", "s.yaml", ["storage"], ["10.0.0.1", "10.0.0.2"])
    check_one_machine("http://127.0.0.1:8265", "s.yaml", ["storage"], ["10.0.0.1", "10.0.0.1"])


def test_the_staged_study_names_its_stores_absolutely(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = tiny_study(
        "runs",
        storage="sqlite:///rel/optuna.db",
        ray={"address": "10.0.0.9:6379"},
        data={"root": "data"},
    )
    local = staged_config(cfg, local=True)
    assert local["data"]["root"] == str(tmp_path / "data")
    assert local["storage"] == f"sqlite:///{tmp_path}/rel/optuna.db"
    assert local["tracking_uri"] == f"sqlite:///{tmp_path}/runs/tiny/mlflow.db"
    assert local["workdir"] == str(tmp_path / "runs")
    assert local["ray"]["address"] is None  # the job joins its own cluster
    remote = tiny_study(
        "runs", storage="postgresql+psycopg2://u:p@db/o", tracking_uri="http://mlflow:5000"
    )
    staged = staged_config(remote, local=False)
    assert (staged["storage"], staged["tracking_uri"], staged["workdir"]) == (
        "postgresql+psycopg2://u:p@db/o",
        "http://mlflow:5000",
        "runs",
    )
    from initsearch.config import parse_study

    assert parse_study(staged).name == "tiny"  # still a valid study file


# ---- resources ---------------------------------------------------------------------------------


def test_trials_are_fitted_node_by_node():
    two_nodes = [{"CPU": 3.0}, {"CPU": 3.0}]
    assert trial_slots(two_nodes, 2, 0) == 2  # not 6 / 2 = 3: a trial cannot span nodes
    assert trial_slots(two_nodes, 0.5, 0) == 12
    gpu_nodes = [{"CPU": 16.0, "GPU": 4.0}, {"CPU": 0.0}]
    assert trial_slots(gpu_nodes, 1, 0.25) == 16
    assert trial_slots(gpu_nodes, 4, 0.25) == 4
    check_fits(gpu_nodes, 4, 0.25)
    with pytest.raises(
        ConfigError, match="asks for 1 GPU per trial but the Ray cluster has no GPU"
    ):
        check_fits(two_nodes, 1, 1)
    with pytest.raises(ConfigError, match="no node of the Ray cluster fits one trial .4 CPU"):
        check_fits(two_nodes, 4, 0)


def test_the_resource_check_can_be_skipped_for_autoscaling_clusters(monkeypatch):
    monkeypatch.setenv("INITSEARCH_SKIP_RESOURCE_CHECK", "1")
    check_fits([{"CPU": 2.0}], 1, 1)  # a GPU node may join later


# ---- job ids and what runs -----------------------------------------------------------------


class Job:
    def __init__(self, submission_id: str | None) -> None:
        self.submission_id = submission_id


def test_job_ids_number_the_submissions_of_a_study():
    assert job_id("cifar10_vgg", 3) == "initsearch-cifar10_vgg-3"
    jobs = [Job(i) for i in ("initsearch-a-2", "initsearch-a-10", "initsearch-ab-1", None)]
    jobs.append(Job("raysubmit_xyz"))
    assert [n for n, _ in study_jobs(jobs, "a")] == [2, 10]
    assert study_jobs(jobs, "b") == []
    assert entrypoint("a", "python", None, None) == (
        "python -m initsearch study start a.yaml --ray-address auto"
    )
    assert entrypoint("a", "/opt/env/bin/python", 40, 8).endswith("--trials 40 --workers 8")
    assert parse_env(["INITSEARCH_DATA=/data", "X=a=b"]) == {"INITSEARCH_DATA": "/data", "X": "a=b"}
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_env(["no-equals"])


def test_a_failed_jobs_reason_is_our_error_line():
    message = (
        "Job entrypoint command failed with exit code 2, last available logs (truncated to "
        "20,000 chars):\n2026 INFO worker.py -- Connected\nerror: the study asks for 1.0 GPU"
    )
    assert reason(message) == "the study asks for 1.0 GPU"
    assert reason("Job finished successfully.") is None


def test_the_cluster_commands_are_listed():
    result = CliRunner().invoke(app, ["cluster", "--help"])
    assert result.exit_code == 0
    for command in ("submit", "status", "logs", "stop", "list"):
        assert re.search(rf"^│ {command}\b", result.output, re.M), result.output


# ---- the SLURM recipe, run by bash on a fake allocation --------------------------------------

SHIMS = {
    # prints the allocation's nodes
    "scontrol": '#!/usr/bin/env bash\nprintf "%s\\n" $FAKE_NODES\n',
    # runs the command "on" the node named by -w (all nodes for --nodes=N without -w)
    "srun": """#!/usr/bin/env bash
node=all
while [[ $1 == -* ]]; do
  case $1 in -w) node=$2; shift 2;; --*=*) shift;; -*) shift 2;; esac
done
echo "srun $node: $*" >> "$FAKE_LOG"
FAKE_NODE=$node exec "$@"
""",
    "hostname": '#!/usr/bin/env bash\necho "10.9.9.${FAKE_NODE: -1} fe80::1"\n',
    # `ray start --block` blocks until the script stops it
    "ray": """#!/usr/bin/env bash
echo "ray $FAKE_NODE: $* token=${RAY_AUTH_TOKEN:+set} mode=$RAY_AUTH_MODE" >> "$FAKE_LOG"
if [[ " $* " == *" --block "* ]]; then exec sleep 120; fi
""",
    # the node count the script waits for; anything else is the real Python
    "python": """#!/usr/bin/env bash
if [[ $1 == - ]]; then cat > /dev/null; echo "$FAKE_ALIVE"; exit 0; fi
exec "$REAL_PYTHON" "$@"
""",
}

STUDY_SHIM = """#!{python}
import os, sys, time
log = open(os.environ["FAKE_LOG"], "a")
token = "set" if os.environ.get("RAY_AUTH_TOKEN") else "unset"
print(f"initsearch: {{' '.join(sys.argv[1:])}} token={{token}}", file=log, flush=True)
try:
    time.sleep(float(os.environ.get("FAKE_STUDY_S", "0")))
except KeyboardInterrupt:
    print("initsearch: interrupted", file=log, flush=True)
    sys.exit(130)
sys.exit(int(os.environ.get("FAKE_STUDY_STATUS", "0")))
"""


def fake_allocation(tmp_path: Path, nodes: int = 3, alive: int | None = None) -> dict[str, str]:
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name, text in SHIMS.items():
        (venv_bin / name).write_text(text)
    (venv_bin / "initsearch").write_text(STUDY_SHIM.format(python=sys.executable))
    for shim in venv_bin.iterdir():
        shim.chmod(0o755)
    (venv_bin / "activate").write_text(f'export PATH="{venv_bin}:$PATH"\n')
    log = tmp_path / "calls.log"
    log.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "SLURM_"))}
    return {
        **env,
        "PATH": f"{venv_bin}:{env['PATH']}",  # srun/scontrol/hostname before activation too
        "VENV": str(tmp_path / "venv"),
        "STUDY_FILE": "studies/cifar10_vgg.yaml",
        "SLURM_JOB_NODELIST": "gpu[1-3]",
        "SLURM_JOB_ID": "4242",
        "SLURM_CPUS_PER_TASK": "16",
        "SLURM_GPUS_PER_TASK": "4",
        "FAKE_NODES": " ".join(f"gpu{i}" for i in range(1, nodes + 1)),
        "FAKE_ALIVE": str(nodes if alive is None else alive),
        "FAKE_LOG": str(log),
        "REAL_PYTHON": sys.executable,
        "NODE_WAIT_S": "2",
    }


def start_sbatch(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        ["bash", str(SBATCH)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip


def finish(proc: subprocess.Popen, timeout: float = 60) -> subprocess.CompletedProcess:
    """Wait for the script; whatever of its session is left (a fake `ray start --block`) is
    killed either way."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_sbatch(env: dict[str, str]) -> subprocess.CompletedProcess:
    return finish(start_sbatch(env))


def calls(env: dict[str, str]) -> list[str]:
    return Path(env["FAKE_LOG"]).read_text().splitlines()


def test_the_slurm_script_parses_and_documents_its_placeholders():
    assert subprocess.run(["bash", "-n", str(SBATCH)], capture_output=True).returncode == 0
    text = SBATCH.read_text()
    header = text.split("\n#SBATCH", 1)[0]
    documented = set(re.findall(r"^#   ([A-Z_]+)\s", header, re.M))
    with_default = set(re.findall(r"\$\{([A-Z_]+):[-?]", text)) - {
        "SLURM_SUBMIT_DIR", "SLURM_CPUS_PER_TASK", "SLURM_GPUS_PER_TASK", "RAY_AUTH_TOKEN",
    }  # fmt: skip
    assert with_default <= documented, with_default - documented
    assert documented <= set(re.findall(r"\$\{?([A-Z_]+)", text.split("set -euo", 1)[1]))
    assert "#SBATCH --exclusive" in text and "#SBATCH --ntasks-per-node=1" in text


def test_the_slurm_script_starts_ray_runs_the_study_on_the_head_and_stops_ray(tmp_path):
    env = fake_allocation(tmp_path)
    done = run_sbatch(env)
    assert done.returncode == 0, done.stderr + done.stdout
    log = calls(env)
    head_ip = "10.9.9.1"
    head = [c for c in log if c.startswith("ray gpu1: start --head")]
    assert len(head) == 1
    for flag in (f"--node-ip-address={head_ip}", "--port=6379", "--dashboard-host=127.0.0.1",
                 "--num-cpus=16", "--num-gpus=4", "--block", "token=set mode=token"):  # fmt: skip
        assert flag in head[0], head[0]
    for node in ("gpu2", "gpu3"):
        worker = [c for c in log if c.startswith(f"ray {node}: start --address={head_ip}:6379")]
        assert len(worker) == 1 and "token=set mode=token" in worker[0], log
    study = [c for c in log if c.startswith("initsearch:")]
    assert study == [
        f"initsearch: study start studies/cifar10_vgg.yaml --ray-address {head_ip}:6379 token=set"
    ]
    starts = max(i for i, c in enumerate(log) if " start --" in c and c.startswith("ray"))
    assert log.index(study[0]) > starts  # the study runs once Ray runs everywhere
    stops = [i for i, c in enumerate(log) if c.startswith("ray all: stop")]
    assert stops and stops[0] > log.index(study[0])
    assert "study finished with status 0" in done.stdout


def test_the_slurm_script_passes_on_the_studys_failure(tmp_path):
    env = {**fake_allocation(tmp_path), "FAKE_STUDY_STATUS": "3"}
    done = run_sbatch(env)
    assert done.returncode == 3
    assert any(c.startswith("ray all: stop") for c in calls(env))  # Ray stopped all the same


def test_the_slurm_script_needs_a_study_file_and_every_node(tmp_path):
    env = fake_allocation(tmp_path / "a")
    del env["STUDY_FILE"]
    done = run_sbatch(env)
    assert done.returncode != 0 and "set STUDY_FILE" in done.stderr
    env = fake_allocation(tmp_path / "b", alive=2)
    done = run_sbatch(env)
    assert done.returncode == 1
    assert "not every node joined the Ray cluster in 2 s" in done.stderr
    assert not [c for c in calls(env) if c.startswith("initsearch:")]


def test_sigint_to_the_slurm_script_interrupts_the_study_like_ctrl_c(tmp_path):
    """SLURM's --signal=B:INT@300 before the time limit: the driver must see Ctrl-C (a
    background command of a script starts with SIGINT ignored unless job control is on)."""
    env = {**fake_allocation(tmp_path), "FAKE_STUDY_S": "60"}
    proc = start_sbatch(env)
    deadline = time.monotonic() + 30
    while not any(c.startswith("initsearch: study") for c in calls(env)):
        if time.monotonic() > deadline or proc.poll() is not None:
            finish(proc, timeout=1)
            pytest.fail(f"the study never started: {calls(env)}")
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    done = finish(proc, timeout=30)
    assert "initsearch: interrupted" in calls(env), done.stderr
    assert done.returncode == 130
    assert any(c.startswith("ray all: stop") for c in calls(env))


# ---- KubeRay and the guide -------------------------------------------------------------------


def test_the_kuberay_rayjob_runs_the_study_with_token_auth():
    from initsearch.config import parse_study

    docs = [d for d in yaml.safe_load_all(RAYJOB.read_text()) if d]
    job = next(d for d in docs if d["kind"] == "RayJob")
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert job["apiVersion"] == "ray.io/v1"
    spec = job["spec"]
    cluster = spec["rayClusterSpec"]
    assert cluster["authOptions"] == {"mode": "token"}
    head = cluster["headGroupSpec"]
    assert head["rayStartParams"]["num-cpus"] == "0"  # the head runs the driver only
    container = head["template"]["spec"]["containers"][0]
    stop = {e["name"]: e["value"] for e in container["env"]}
    assert stop["RAY_JOB_STOP_SIGNAL"] == "SIGINT"  # deleting the job: Ctrl-C for the driver
    # the entrypoint reads the study file the Secret mounts on the head
    command = spec["entrypoint"].split()
    assert command[:3] == ["initsearch", "study", "start"] and "--ray-address" in command
    mount = next(m for m in container["volumeMounts"] if m["name"] == "study")
    assert command[3] == f"{mount['mountPath']}/study.yaml"
    cfg = parse_study(yaml.safe_load(secret["stringData"]["study.yaml"]), "(rayjob)")
    assert embedded_stores(cfg.storage, cfg.tracking_uri) == []
    workers = cluster["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    assert float(workers["resources"]["limits"]["nvidia.com/gpu"]) >= cfg.ray.gpus_per_trial > 0
    # the driver loads the data (trials get it from the object store): the head has the files
    assert cfg.data.root in {m["mountPath"] for m in container["volumeMounts"]}


def test_the_guide_shows_every_command_and_recipe():
    text = DOC.read_text()
    for needle in (
        "initsearch cluster submit", "initsearch cluster status", "initsearch cluster logs",
        "initsearch cluster stop", "initsearch cluster list", "ray start --head",
        "RAY_AUTH_MODE=token", "ray get-auth-token", "scripts/slurm/initsearch-study.sbatch",
        "kuberay-rayjob.yaml", "RAY_health_check_period_ms", "INITSEARCH_SKIP_RESOURCE_CHECK",
        "postgresql+psycopg2://", "--dashboard-host",
    ):  # fmt: skip
        assert needle in text, needle
    assert "docs/cluster.md" in (REPO / "README.md").read_text()
