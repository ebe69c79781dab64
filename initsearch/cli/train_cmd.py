"""``initsearch train``: one trial, a progress bar, a curve summary (or JSON).

A single trial selects nothing, so it measures both splits: validation (what a study selects
on) and test (what judges the choice), each epoch and at the end.
"""

from __future__ import annotations

from dataclasses import replace

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from initsearch import jsonsafe
from initsearch.cli.options import (
    Activation,
    AsJson,
    BatchNorm,
    BatchSize,
    Bf16,
    DataName,
    DataRoot,
    Depth,
    Device,
    DivergenceLoss,
    Download,
    Epochs,
    GradClip,
    Heads,
    InitName,
    InitOptions,
    Limit,
    LogEvery,
    Lr,
    ModelName,
    Momentum,
    NormPosition,
    Optimizer,
    Scales,
    Schedule,
    Seed,
    TargetAccuracy,
    ValFraction,
    WarmupEpochs,
    WeightDecay,
    Width,
    trial_spec,
)
from initsearch.inits import InitSpec
from initsearch.models import ModelSpec
from initsearch.train import Budget, DataSpec, OptimizerSpec, TrialResult, TrialSpec, run_trial

VALIDATION_FIGURES = ("first_epoch_accuracy", "final_accuracy", "best_accuracy")


def _at(values: list[float], e: int, form: str) -> str:
    return form.format(values[e]) if e < len(values) else "-"


def print_summary(result: TrialResult, console: Console) -> None:
    curve, summary = result.curve, result.summary
    table = Table(
        title=f"trial: {result.status}" + (f" ({result.reason})" if result.reason else "")
    )
    columns = ("epoch", "val loss", "val acc", "test loss", "test acc", "train loss", "seconds")
    for column in columns:
        table.add_column(column, justify="right")
    n = curve.epochs_done
    shown = sorted({*range(min(n, 3)), *range(max(n - 3, 0), n), *range(0, n, max(n // 10, 1))})
    for e in shown:
        table.add_row(
            str(e + 1),
            f"{curve.val_loss[e]:.4f}",
            f"{curve.val_accuracy[e]:.2%}",
            _at(curve.test_loss, e, "{:.4f}"),
            _at(curve.test_accuracy, e, "{:.2%}"),
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
        split = " (validation)" if key in VALIDATION_FIGURES else ""
        console.print(f"  {key.replace('_', ' ')}{split}: {text}")
    console.print(f"  parameters: {result.num_parameters:,}  device: {result.device}")


def train(
    model: ModelName = ModelSpec.name,
    depth: Depth = ModelSpec.depth,
    width: Width = ModelSpec.width,
    activation: Activation = ModelSpec.activation,
    batch_norm: BatchNorm = ModelSpec.batch_norm,
    heads: Heads = ModelSpec.heads,
    norm_position: NormPosition = ModelSpec.norm_position,
    data: DataName = DataSpec.name,
    data_root: DataRoot = DataSpec.root,
    download: Download = DataSpec.download,
    limit: Limit = DataSpec.limit,
    val_fraction: ValFraction = DataSpec.val_fraction,
    init: InitName = InitSpec.scheme,
    scales: Scales = None,
    option: InitOptions = None,
    optimizer: Optimizer = OptimizerSpec.name,
    lr: Lr = OptimizerSpec.lr,
    momentum: Momentum = OptimizerSpec.momentum,
    weight_decay: WeightDecay = OptimizerSpec.weight_decay,
    warmup_epochs: WarmupEpochs = OptimizerSpec.warmup_epochs,
    schedule: Schedule = OptimizerSpec.schedule,
    grad_clip: GradClip = OptimizerSpec.grad_clip,
    epochs: Epochs = Budget.epochs,
    batch_size: BatchSize = Budget.batch_size,
    log_every: LogEvery = Budget.log_every,
    target_accuracy: TargetAccuracy = Budget.target_accuracy,
    divergence_loss: DivergenceLoss = Budget.divergence_loss,
    seed: Seed = TrialSpec.seed,
    device: Device = TrialSpec.device,
    bf16: Bf16 = TrialSpec.bf16,
    as_json: AsJson = False,
) -> None:
    spec = replace(trial_spec(locals()), test_split=True)
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
            status = f"val acc {curve.val_accuracy[-1]:.2%}"
            if curve.test_accuracy:
                status += f", test acc {curve.test_accuracy[-1]:.2%}"
            progress.update(task, completed=done, status=status)
            return True

        return run_trial(spec, on_epoch=on_epoch)
