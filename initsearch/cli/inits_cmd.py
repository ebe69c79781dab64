"""``initsearch inits list|show``: the registered init schemes, and what one does to a model.

``show`` builds the model on the data exactly as ``initsearch train`` does (same seed, same
order: seed, build, apply) and prints the at-init diagnostics of ``InitReport.diagnostics``:
per layer scale, weight std, activation std, dead fraction and gradient norm, plus the batch
loss and the log emergence measure, with the absolute threshold and the scale-free relative
one. So ``show --seed s`` is the init ``train --seed s`` starts
from. ``show --model-factory pkg.mod:fn`` instead prints the scalable layers tracing finds in
your own model on a batch of ``--data``'s shape (``initsearch.models.discover``): what an init
will scale, at which depth, with which gain, and what it will leave alone.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import torch
import typer
from rich.console import Console
from rich.table import Table
from torch import nn

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
    ModelFactory,
    ModelKwargs,
    ModelName,
    NormPosition,
    Scales,
    Seed,
    Width,
    parse_model_kwargs,
    trial_spec,
)
from initsearch.errors import ConfigError
from initsearch.factories import add_import_paths
from initsearch.inits import InitReport, InitSpec, all_schemes
from initsearch.inits.options import COMMON_OPTIONS
from initsearch.inits.schemes.classic import nonlinearity
from initsearch.models import (
    Discovery,
    ModelSpec,
    ScalableLayer,
    ScalableModel,
    build_model,
    discover_layers,
    sample_input,
)
from initsearch.train import DataSpec, TrialSpec
from initsearch.train.engine import build_member

app = typer.Typer(
    help="Init schemes: list them, or show what one does to a model at init.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.command("list", help="Every registered init scheme: summary, options, whether it needs data.")
def list_schemes(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="describe each option, not just its name")
    ] = False,
    as_json: AsJson = False,
) -> None:
    infos = all_schemes()
    if as_json:
        rows = [
            {"name": i.name, "summary": i.summary, "options": i.options, "needs_data": i.needs_data}
            for i in infos
        ]
        typer.echo(json.dumps(rows))
        return
    table = Table(title="init schemes", show_lines=verbose)
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("summary", ratio=3)
    table.add_column("options", ratio=2)
    table.add_column("needs data", justify="center")
    for info in infos:
        if verbose:
            options = "\n".join(f"{key}: {doc}" for key, doc in info.options.items())
        else:
            options = ", ".join(info.options)
        table.add_row(info.name, info.summary, options or "-", "yes" if info.needs_data else "no")
    console = Console()
    console.print(table)
    common = (
        ", ".join(COMMON_OPTIONS)
        if not verbose
        else "; ".join(f"{key}: {doc}" for key, doc in COMMON_OPTIONS.items())
    )
    console.print(f"every scheme also takes: {common}")
    console.print("set options with `initsearch inits show --init NAME --option key=value`")
    if not verbose:
        console.print("`initsearch inits list --verbose` describes each option")


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "-inf" if value < 0 else "inf"
    return f"{value:.{digits}g}"


def print_report(report: InitReport, model: ScalableModel, console: Console) -> None:
    """Per-layer table from the diagnostics; without them (diagnostics=false), the weights."""
    diag = report.diagnostics
    layers = diag.get("layers")
    if not layers:
        layers = [
            {
                "name": layer.name,
                "depth": layer.depth,
                "scale": scale,
                "weight_std": float(layer.weight.detach().float().std()),
            }
            for layer, scale in zip(model.scalable_layers(), report.applied_scales, strict=True)
        ]
    table = Table(title=f"init {report.scheme}: {len(layers)} scalable layers")
    columns = ("layer", "depth", "scale", "weight std", "act std", "dead", "grad norm")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in layers:
        dead = row.get("dead_fraction")
        table.add_row(
            row["name"],
            str(row.get("depth", "-")),
            _fmt(row.get("scale")),
            _fmt(row.get("weight_std")),
            _fmt(row.get("activation_std")),
            "-" if dead is None else f"{dead:.1%}",
            _fmt(row.get("grad_norm")),
        )
    console.print(table)
    if not diag:
        console.print(
            "  no at-init diagnostics in the report (they are off with --option diagnostics=false)"
        )
        return
    console.print(f"  batch loss: {_fmt(diag.get('loss'))}")
    console.print(
        f"  log emergence (log E): {_fmt(diag.get('log_emergence'))}  "
        f"relative: {_fmt(diag.get('log_emergence_relative'))}"
    )
    active, relative = diag.get("active_fraction"), diag.get("active_fraction_relative")
    if active is not None:
        extra = f"  relative: {relative:.1%}" if relative is not None else ""
        console.print(f"  active fraction: {active:.1%}{extra}")
    console.print(
        f"  on the first {diag.get('batch_size', '?')} training samples; a unit is active when "
        f"its activation > {diag.get('threshold', '?')}"
    )
    if diag.get("relative_threshold") is not None:
        console.print(
            f"  relative: a unit is active when its activation > {diag['relative_threshold']} x "
            "its layer's mean"
        )


def layer_row(layer: ScalableLayer) -> dict[str, Any]:
    """What an init sees of one layer: kind, depth, fans (as ``torch.nn.init`` counts them),
    activation and its gain (None when no gain is known: set the init option gain)."""
    weight = layer.weight
    receptive = weight[0][0].numel() if weight.dim() > 2 else 1
    try:
        gain: float | None = nn.init.calculate_gain(nonlinearity(layer))  # type: ignore[arg-type]
    except ConfigError:
        gain = None
    return {
        "name": layer.name,
        "kind": type(layer.module).__name__,
        "depth": layer.depth,
        "fan_in": int(weight.shape[1]) * receptive,
        "fan_out": int(weight.shape[0]) * receptive,
        "activation": layer.activation,
        "gain": gain,
    }


_LEFT_OUT = {
    "reused": "run more than once per forward; one layer, at the depth of its first use",
    "unused": "never ran on the sample batch; not initialised",
    "unsupported": "hold parameters no init touches; left as torch made them",
}


def print_layers(title: str, found: Discovery, console: Console) -> None:
    """The discovered layer table, then what tracing left out."""
    table = Table(title=title)
    columns = ("layer", "kind", "depth", "fan in", "fan out", "activation", "gain")
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i in (0, 1, 5) else "right", no_wrap=i < 2)
    rows = [layer_row(layer) for layer in found.layers]
    for row in rows:
        cells = (row["name"], row["kind"], row["depth"], row["fan_in"], row["fan_out"])
        table.add_row(*map(str, cells), row["activation"], _fmt(row["gain"]))
    console.print(table)
    for key, meaning in _LEFT_OUT.items():
        names = getattr(found, key)
        console.print(f"  {key}: {', '.join(names) if names else 'none'}  ({meaning})")
    if any(row["gain"] is None for row in rows):
        console.print(
            "  gain '-': no known gain for that activation; variance-scaling inits need the init "
            "option gain, or set the layer's activation (ModelSpec.activations)"
        )


def show_layers(factory: str, kwargs: str | None, data: str, seed: int, as_json: bool) -> None:
    """``show --model-factory``: build the model, trace a batch of ``data``'s shape, print.
    The factory is imported from the current folder too, as ``study start`` does."""
    add_import_paths([Path.cwd()])
    spec = ModelSpec(factory=factory, kwargs=parse_model_kwargs(kwargs))
    shape = DataSpec(name=data).shape()
    torch.manual_seed(seed)
    net = build_model(spec, shape)
    try:
        found = discover_layers(net, sample_input(shape))
    except ConfigError as err:
        raise ConfigError(f"{err}; pick a --data set whose inputs the model takes") from err
    if as_json:
        result = {
            "model": spec.label,
            "data": data,
            "input_shape": list(shape.input_shape),
            "layers": [layer_row(layer) for layer in found.layers],
            "reused": found.reused,
            "unused": found.unused,
            "unsupported": found.unsupported,
        }
        typer.echo(jsonsafe.dumps(result))
        return
    title = f"{spec.label} on a batch of {data}'s shape: {len(found.layers)} scalable layers"
    print_layers(title, found, Console())


@app.command(
    help="Build a model on a data set, apply an init, print per-layer diagnostics. With "
    "--model-factory, print the scalable layers found in your own model on a batch of --data's "
    "shape instead (no init, no data loaded). With --json, non-finite figures (log E is -inf "
    "when E = 0) print as null."
)
def show(
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
    init: InitName = InitSpec.scheme,
    scales: Scales = None,
    option: InitOptions = None,
    seed: Seed = TrialSpec.seed,
    as_json: AsJson = False,
    model_factory: ModelFactory = None,
    model_kwargs: ModelKwargs = None,
) -> None:
    if model_factory is not None:
        show_layers(model_factory, model_kwargs, data, seed, as_json)
        return
    trial = trial_spec(locals())
    resolved = trial.model.resolved()  # unknown model names fail before the data set loads
    dataset = trial.data.load()
    # built as run_trial builds it, so this is the init `train --seed` starts from
    net, report = build_member(trial, dataset, torch.device("cpu"))
    if as_json:
        result = {
            "model": resolved.to_dict(),
            "data": dataset.name,
            "init": trial.init.to_dict(),
            "seed": seed,
            "num_parameters": sum(p.numel() for p in net.parameters()),
            "report": report.to_dict(),
        }
        typer.echo(jsonsafe.dumps(result))
    else:
        print_report(report, net, Console())
