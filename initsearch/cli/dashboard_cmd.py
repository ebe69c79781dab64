"""``initsearch dashboard``: the Optuna dashboard and the MLflow UI of a study, until Ctrl-C.

Once both answer, the study's trial notes and figures are written into its storage for the
Optuna dashboard (:mod:`initsearch.dashboard.publish`), linking the MLflow UI served here.
"""

from __future__ import annotations

from typing import Annotated

import typer

from initsearch.dashboard import defaults


def dashboard(
    study: Annotated[
        str | None,
        typer.Argument(help="study name or its YAML file (default: the only study in --workdir)"),
    ] = None,
    workdir: Annotated[str, typer.Option(help="where studies keep their files")] = "runs",
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL (default: the study's journal)")
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(help="MLflow tracking URI (default: the one the study's driver used)"),
    ] = None,
    host: Annotated[
        str, typer.Option(help="interface to bind; 0.0.0.0 exposes both servers to the network")
    ] = defaults.HOST,
    optuna_port: Annotated[
        int, typer.Option(min=1, max=65535, help="port of the Optuna dashboard")
    ] = defaults.OPTUNA_PORT,
    mlflow_port: Annotated[
        int, typer.Option(min=1, max=65535, help="port of the MLflow UI")
    ] = defaults.MLFLOW_PORT,
) -> None:
    """Serve the study's Optuna dashboard and MLflow UI on localhost; Ctrl-C stops both."""
    from initsearch.dashboard import resolve_target, serve

    target = resolve_target(study, workdir=workdir, storage=storage, tracking_uri=tracking_uri)
    code = serve(
        target,
        host=host,
        optuna_port=optuna_port,
        mlflow_port=mlflow_port,
        echo=typer.echo,
        err=lambda message: typer.echo(message, err=True),
    )
    raise typer.Exit(code)
