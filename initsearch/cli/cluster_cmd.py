"""``initsearch cluster``: run a study as a batch job on a Ray cluster, follow it, stop it.

Every command talks to the Ray dashboard of the cluster's head node (``--address``, or
``RAY_API_SERVER_ADDRESS``) and sends Ray's token when one is found (``--token-file``,
``RAY_AUTH_TOKEN``, ``RAY_AUTH_TOKEN_PATH``, ``~/.ray/auth_token``). ``docs/cluster.md`` shows
a whole session on a real cluster.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated

import typer

app = typer.Typer(
    help="Studies as batch jobs on a Ray cluster: submit, status, logs, stop, list.",
    no_args_is_help=True,
)

Address = Annotated[
    str | None,
    typer.Option(
        help="Ray dashboard of the cluster's head node, e.g. http://HEAD:8265 "
        "(default: $RAY_API_SERVER_ADDRESS)"
    ),
]
TokenFile = Annotated[
    str | None,
    typer.Option(
        help="file holding the cluster's Ray token (default: $RAY_AUTH_TOKEN, "
        "$RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token)"
    ),
]
JobId = Annotated[str, typer.Argument(help="job id, as `cluster submit` printed it")]


def _err(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def submit(
    file: Annotated[str, typer.Argument(help="study definition, e.g. studies/cifar10_vgg.yaml")],
    address: Address = None,
    token_file: TokenFile = None,
    trials: Annotated[int | None, typer.Option(help="override budget.trials")] = None,
    workers: Annotated[
        int | None, typer.Option(help="trials at once (default: what the cluster fits)")
    ] = None,
    python: Annotated[
        str, typer.Option(help="the Python on the cluster that has initsearch's dependencies")
    ] = "python",
    env: Annotated[
        list[str] | None,
        typer.Option(help="NAME=VALUE for the job and its trials, repeatable"),
    ] = None,
) -> None:
    """Submit the study as a Ray job (or resume it: same study, next job id); print its id."""
    from initsearch.api import check_study, study_config
    from initsearch.cluster.client import connect, normalize_address
    from initsearch.cluster.stores import check_reachable, embedded_stores
    from initsearch.cluster.submit import parse_env, study_stores, submit_study
    from initsearch.config import load_study

    cfg = load_study(file)
    study_config(cfg, trials=trials, workers=workers)  # the flags, checked like the file's keys
    # the model, data and training code, before anything is sent; the stores are the
    # cluster's to reach (checked below)
    check_study(cfg, stores=False)
    extra = parse_env(env)
    address = normalize_address(address)
    check_reachable(address, file, embedded_stores(*study_stores(cfg)))  # before connecting
    cluster = connect(address, token_file)
    done = submit_study(cluster, cfg, file, python, trials, workers, extra)
    what = "submitted" if done.attempt == 1 else f"resubmitted (attempt {done.attempt}, resumes)"
    _err(f"study {cfg.name} {what} as job {done.job_id} on {cluster.address}")
    _err(f"follow it: initsearch cluster logs {done.job_id} --follow --address {cluster.address}")
    typer.echo(done.job_id)


@app.command()
def status(
    job: JobId,
    address: Address = None,
    token_file: TokenFile = None,
    wait: Annotated[
        bool, typer.Option(help="wait until the job ends; exit 0 only if it succeeded")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print the status as JSON")] = False,
) -> None:
    """The job's state (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and why it failed."""
    from initsearch.cluster import jobs
    from initsearch.cluster.client import connect

    cluster = connect(address, token_file)
    view = jobs.wait(cluster, job) if wait else jobs.status(cluster, job)
    if as_json:
        typer.echo(json.dumps(asdict(view), indent=2))
    else:
        typer.echo("\n".join(view.lines()))
    if wait and view.status != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def logs(
    job: JobId,
    address: Address = None,
    token_file: TokenFile = None,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", "-f", help="stream until the job ends (exit 1 unless it succeeded)"
        ),
    ] = False,
) -> None:
    """The job's output: the study's progress and its final table."""
    from initsearch.cluster import jobs
    from initsearch.cluster.client import connect

    cluster = connect(address, token_file)
    if not follow:
        typer.echo(jobs.logs(cluster, job), nl=False)
        return

    def write(chunk: str) -> None:
        sys.stdout.write(chunk)
        sys.stdout.flush()

    try:
        view = jobs.follow(cluster, job, write)
    except KeyboardInterrupt:
        _err(f"stopped following; job {job} goes on (`initsearch cluster stop {job}` stops it)")
        raise typer.Exit(130) from None
    _err(f"job {job}: {view.status}" + (f" ({view.reason})" if view.reason else ""))
    if view.status != "SUCCEEDED":
        raise typer.Exit(1)


@app.command()
def stop(
    job: JobId,
    address: Address = None,
    token_file: TokenFile = None,
    timeout: Annotated[float, typer.Option(min=0, help="seconds to wait for it to stop")] = 60,
) -> None:
    """Stop the job; its running trials are failed and re-run when the study is submitted
    again."""
    from initsearch.cluster import jobs
    from initsearch.cluster.client import connect

    cluster = connect(address, token_file)
    asked, view = jobs.stop(cluster, job, timeout)
    if not asked:
        typer.echo(f"job {job} had already ended: {view.status}")
        return
    typer.echo(f"job {job}: {view.status}")
    if view.status not in ("STOPPED", "SUCCEEDED", "FAILED"):
        _err(
            f"job {job} has not stopped within {timeout:.0f} s; check again with "
            f"`initsearch cluster status {job}`"
        )
        raise typer.Exit(1)


@app.command(name="list")
def list_jobs(
    address: Address = None,
    token_file: TokenFile = None,
    all_jobs: Annotated[bool, typer.Option("--all", help="every job, not only studies")] = False,
) -> None:
    """Jobs of studies on the cluster, oldest first."""
    from initsearch.cluster import jobs
    from initsearch.cluster.client import connect

    cluster = connect(address, token_file)
    views = jobs.study_job_list(cluster, all_jobs)
    if not views:
        typer.echo("no jobs" if all_jobs else "no study jobs (--all lists every job)")
        return
    width = max(len(v.job_id) for v in views)
    for v in views:
        typer.echo(f"{v.job_id:<{width}}  {v.status:<9}  {v.started}  {v.study}")
