"""``initsearch train``: one trial, a progress bar, a curve summary (or JSON)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from initsearch import jsonsafe
from initsearch.cli.options import (
    Activation,
    AsJson,
    BatchNorm,
    DataName,
    DataRoot,
    Depth,
    Download,
    Heads,
    InitName,
    InitOptions,
    Limit,
    ModelName,
    NormPosition,
    Scales,
    Seed,
    Width,
    init_spec,
)
from initsearch.models import ModelSpec
from initsearch.train import Budget, DataSpec, OptimizerSpec, TrialResult, TrialSpec, run_trial


def print_summary(result: TrialResult, console: Console) -> None:
    curve, summary = result.curve, result.summary
    table = Table(
        title=f"trial: {result.status}" + (f" ({result.reason})" if result.reason else "")
    )
    for column in ("epoch", "val loss", "val acc", "train loss", "seconds"):
        table.add_column(column, justify="right")
    n = curve.epochs_done
    shown = sorted({*range(min(n, 3)), *range(max(n - 3, 0), n), *range(0, n, max(n // 10, 1))})
    for e in shown:
        table.add_row(
            str(e + 1),
            f"{curve.val_loss[e]:.4f}",
            f"{curve.val_accuracy[e]:.2%}",
            f"{curve.epoch_train_loss[e]:.4f}",
            f"{curve.epoch_seconds[e]:.2f}",
        )
    console.print(table)
    figures = summary.to_dict()
    for key, value in figures.items():
        if value is None:
            text = "-"
        elif "accuracy" in key:
            text = f"{value:.2%}"
        else:
            text = f"{value:.4g}"
        console.print(f"  {key.replace('_', ' ')}: {text}")
    console.print(f"  parameters: {result.num_parameters:,}  device: {result.device}")


def train(
    model: ModelName = "mlp",
    depth: Depth = None,
    width: Width = None,
    activation: Activation = "relu",
    batch_norm: BatchNorm = False,
    heads: Heads = 4,
    norm_position: NormPosition = "pre",
    data: DataName = "mnist1d",
    data_root: DataRoot = None,
    download: Download = False,
    limit: Limit = None,
    init: InitName = "kaiming",
    scales: Scales = None,
    option: InitOptions = None,
    optimizer: Annotated[str, typer.Option(help="sgd | adamw")] = "sgd",
    lr: Annotated[float, typer.Option(help="learning rate")] = 0.05,
    momentum: Annotated[float, typer.Option(help="SGD momentum")] = 0.9,
    weight_decay: Annotated[float, typer.Option()] = 0.0,
    warmup_epochs: Annotated[float, typer.Option(help="linear warmup length")] = 0.0,
    schedule: Annotated[str, typer.Option(help="constant | cosine")] = "constant",
    grad_clip: Annotated[float | None, typer.Option(help="clip gradient norm")] = None,
    epochs: Annotated[int, typer.Option()] = 10,
    batch_size: Annotated[int, typer.Option()] = 128,
    log_every: Annotated[int, typer.Option(help="record training loss every k steps")] = 10,
    target_accuracy: Annotated[float | None, typer.Option(help="for epochs-to-target")] = None,
    divergence_loss: Annotated[float, typer.Option(help="loss above this = diverged")] = 100.0,
    seed: Seed = 0,
    device: Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto")] = "cpu",
    bf16: Annotated[bool, typer.Option(help="bf16 autocast")] = False,
    as_json: AsJson = False,
) -> None:
    spec = TrialSpec(
        model=ModelSpec(
            name=model,
            depth=depth,
            width=width,
            activation=activation,
            batch_norm=batch_norm,
            heads=heads,
            norm_position=norm_position,
        ),
        data=DataSpec(name=data, root=data_root, download=download, limit=limit),
        init=init_spec(init, scales, option),
        optimizer=OptimizerSpec(
            name=optimizer,
            lr=lr,
            momentum=momentum,
            weight_decay=weight_decay,
            warmup_epochs=warmup_epochs,
            schedule=schedule,
            grad_clip=grad_clip,
        ),
        budget=Budget(
            epochs=epochs,
            batch_size=batch_size,
            log_every=log_every,
            divergence_loss=divergence_loss,
            target_accuracy=target_accuracy,
        ),
        seed=seed,
        device=device,
        bf16=bf16,
    )
    result = run_with_progress(spec, show=not as_json)
    if as_json:
        typer.echo(jsonsafe.dumps(result.to_dict()))
    else:
        print_summary(result, Console())


def run_with_progress(spec: TrialSpec, show: bool) -> TrialResult:
    """Run the trial with a per-epoch progress bar on stderr (hidden for --json)."""
    columns = (
        TextColumn("[bold]train"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), disable=not show) as progress:
        task = progress.add_task("train", total=spec.budget.epochs, status="")

        def on_epoch(done: int, curve) -> bool:
            progress.update(task, completed=done, status=f"val acc {curve.val_accuracy[-1]:.2%}")
            return True

        return run_trial(spec, on_epoch=on_epoch)
