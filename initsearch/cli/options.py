"""Command-line options shared by commands that build a model on a data set with an init.

Each alias is an ``Annotated`` type carrying its ``typer.Option`` (help text and flag name come
from here), so ``train`` and ``inits show`` spell and document ``--model``, ``--data``,
``--init``, ``--scales``, ``--option`` ... identically. Defaults are not written here: a
command's signature takes each from the engine spec that defines it (``ModelSpec.name``,
``OptimizerSpec.lr``, ...). Option names are the spec's field names, except where two specs
share one (``--model``, ``--data``, ``--optimizer`` name their spec; ``--data-root`` is
``DataSpec.root``), and :func:`trial_spec` turns a command's options into one ``TrialSpec``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import typer

from initsearch.data import DATASET_NAMES
from initsearch.errors import ConfigError
from initsearch.inits import InitSpec, scheme_names
from initsearch.inits.options import check_options
from initsearch.models import ModelSpec
from initsearch.models.spec import ACTIVATIONS, MODEL_NAMES, NORM_POSITIONS
from initsearch.train.spec import (
    OPTIMIZERS,
    SCHEDULES,
    Budget,
    DataSpec,
    OptimizerSpec,
    TrialSpec,
    spec_from,
)

# options with fixed choices: typer lists them in --help (<mlp|vgg|...>) and refuses others
# with one line naming the option, before anything runs; the value stays a plain str
ModelChoice = Literal[MODEL_NAMES]
DataChoice = Literal[DATASET_NAMES]
SchemeChoice = Literal[tuple(scheme_names())]

ModelName = Annotated[ModelChoice, typer.Option(help="built-in model architecture")]
ModelFactory = Annotated[
    str | None,
    typer.Option(help="your own model: package.module:function returning any torch nn.Module"),
]
ModelKwargs = Annotated[
    str | None,
    typer.Option(help="keyword arguments of --model-factory, a JSON object: '{\"width\": 64}'"),
]
Depth = Annotated[int | None, typer.Option(help="layers/blocks (architecture default)")]
Width = Annotated[int | None, typer.Option(help="units/channels (architecture default)")]
Activation = Annotated[Literal[ACTIVATIONS], typer.Option(help="hidden activation")]
BatchNorm = Annotated[bool, typer.Option("--batch-norm/--no-batch-norm")]
Heads = Annotated[int, typer.Option(help="attention heads (transformer)")]
NormPosition = Annotated[
    Literal[NORM_POSITIONS],
    typer.Option(help="layer norm before or after each block (transformer)"),
]
DataName = Annotated[DataChoice, typer.Option(help="data set")]
DataRoot = Annotated[str | None, typer.Option(help="folder with data set files")]
Download = Annotated[bool, typer.Option(help="allow fetching torchvision data")]
Limit = Annotated[int | None, typer.Option(help="use only the first N training samples")]
ValFraction = Annotated[
    float | None,
    typer.Option(help="share of the training data held out for validation (default: the set's)"),
]
InitName = Annotated[SchemeChoice, typer.Option(help="init scheme (see `initsearch inits list`)")]
Scales = Annotated[str | None, typer.Option(help="per-layer scale factors, comma-separated")]
InitOptions = Annotated[
    list[str] | None,
    typer.Option(
        "--option",
        help="init option key=value, repeatable; values parse as JSON (numbers, true/false) "
        "when they can, else as text (see `initsearch inits list`)",
    ),
]
Seed = Annotated[int, typer.Option()]
Optimizer = Annotated[Literal[OPTIMIZERS], typer.Option()]
Lr = Annotated[float, typer.Option(help="learning rate")]
Momentum = Annotated[float, typer.Option(help="SGD momentum")]
WeightDecay = Annotated[float, typer.Option()]
WarmupEpochs = Annotated[float, typer.Option(help="linear warmup length")]
Schedule = Annotated[
    Literal[SCHEDULES],
    typer.Option(help="learning-rate schedule after warmup"),
]
GradClip = Annotated[float | None, typer.Option(help="clip gradient norm")]
Epochs = Annotated[int, typer.Option()]
BatchSize = Annotated[int, typer.Option()]
LogEvery = Annotated[int, typer.Option(help="record training loss every k steps")]
TargetAccuracy = Annotated[float | None, typer.Option(help="for epochs-to-target")]
DivergenceLoss = Annotated[float, typer.Option(help="loss above this = diverged")]
Device = Annotated[str, typer.Option(help="cpu | cuda | cuda:N | auto")]
Bf16 = Annotated[bool, typer.Option(help="bf16 autocast")]
AsJson = Annotated[bool, typer.Option("--json", help="print the full result as JSON")]


def parse_scales(text: str | None) -> tuple[float, ...] | None:
    """'1,0.5,2' -> (1.0, 0.5, 2.0); a clear error for anything else."""
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ConfigError(
            f"--scales must be comma-separated numbers, one per scalable layer; got {text!r}"
        ) from None


def parse_value(text: str) -> Any:
    """A JSON value when ``text`` is one (``2``, ``0.5``, ``true``, ``[1, 2]``), else the text."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_model_kwargs(text: str | None) -> dict[str, Any]:
    """--model-kwargs '{"width": 64}' -> {'width': 64}; a clear error for anything else."""
    if text is None:
        return {}
    try:
        value = json.loads(text)
    except ValueError as err:
        raise ConfigError(f"--model-kwargs must be a JSON object ({err}); got {text!r}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f'--model-kwargs must be a JSON object such as {{"width": 64}}; got {text!r}'
        )
    return value


def parse_init_options(items: list[str] | None) -> dict[str, Any]:
    """['alpha=1.2', 'mode=fan_out'] -> {'alpha': 1.2, 'mode': 'fan_out'}."""
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--option must look like key=value (e.g. gain=1.5); got {item!r}")
        if key in options:
            raise ConfigError(f"--option {key} given twice; give each option once")
        options[key] = parse_value(value.strip())
    return options


def init_spec(scheme: str, scales: str | None, options: list[str] | None) -> InitSpec:
    """The InitSpec of --init/--scales/--option, with unknown schemes and option keys rejected."""
    parsed = parse_init_options(options)
    check_options(scheme, parsed)
    return InitSpec(scheme=scheme, scales=parse_scales(scales), options=parsed)


def trial_spec(options: Mapping[str, Any]) -> TrialSpec:
    """The TrialSpec of a command's options, given by parameter name (the command's
    ``locals()``); options a command does not offer keep the spec's default."""

    def named(key: str) -> dict[str, Any]:
        """The options, with ``name`` = the option ``key`` (--model, --data, --optimizer)."""
        return {**options, "name": options[key]} if key in options else dict(options)

    data = named("data")
    if "data_root" in options:
        data["root"] = options["data_root"]
    return spec_from(
        TrialSpec,
        {
            **options,
            "model": spec_from(ModelSpec, named("model")),
            "data": spec_from(DataSpec, data),
            "init": init_spec(options["init"], options.get("scales"), options.get("option")),
            "optimizer": spec_from(OptimizerSpec, named("optimizer")),
            "budget": spec_from(Budget, options),
        },
    )
