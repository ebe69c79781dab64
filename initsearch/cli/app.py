"""The typer application and its command groups."""

from __future__ import annotations

from typing import Annotated

import typer

from initsearch.cli import cluster_cmd, compare_cmd, inits_cmd, study_cmd, suite_cmd
from initsearch.cli.dashboard_cmd import dashboard
from initsearch.cli.train_cmd import train

app = typer.Typer(
    help="Which weight initialization makes your network train best, and why.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command(help="Train one model from one init and print its convergence curve.")(train)
app.add_typer(inits_cmd.app, name="inits")
app.add_typer(study_cmd.app, name="study")
app.command(name="dashboard")(dashboard)
app.command(name="compare")(compare_cmd.compare)
app.add_typer(suite_cmd.app, name="suite")
app.add_typer(cluster_cmd.app, name="cluster")


def package_version() -> str:
    """The installed package's version (``pip show initsearch``), else "unknown" (a checkout
    used without installing)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("initsearch")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"initsearch {package_version()}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """Which weight initialization makes your network train best, and why."""
