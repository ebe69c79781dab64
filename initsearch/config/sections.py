"""The sections of a study file that say what one trial trains: data, model, training.

Their defaults are the engine specs' (:mod:`initsearch.train.spec`), so a study file and
``initsearch train`` agree; a researcher's own code enters here as :data:`Reference` fields.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer

from initsearch.errors import ConfigError
from initsearch.factories import check_ref, ref_name
from initsearch.models import ModelSpec
from initsearch.train import Budget, DataSpec, OptimizerSpec, TrialSpec


class Strict(BaseModel):
    """A section of a study file: unknown keys are errors (a typo is never ignored), and no
    number is infinite or NaN (``lr: .inf`` would pass ``gt=0`` and diverge every trial)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _reference(value: Any) -> Any:
    try:
        return check_ref(value, "a factory or training function")
    except ConfigError as err:
        raise ValueError(str(err)) from None


Reference = Annotated[
    str | Callable[..., Any],
    AfterValidator(_reference),
    PlainSerializer(ref_name, return_type=str, when_used="json"),
]
"""A researcher's code: ``"package.module:function"`` in a study file, or the callable itself
through the Python API (``initsearch.run_study``); stored as its ``module:qualname``."""


class DataConfig(Strict):
    """The data set (defaults: :class:`~initsearch.train.spec.DataSpec`); ``factory`` +
    ``kwargs``: the researcher's own data instead (docs/own-model.md)."""

    name: str = DataSpec.name
    root: str | None = DataSpec.root
    download: bool = DataSpec.download
    limit: int | None = Field(default=DataSpec.limit, ge=1)
    val_fraction: float | None = Field(default=DataSpec.val_fraction, gt=0, lt=1)
    factory: Reference | None = None
    kwargs: dict[str, Any] = {}

    @property
    def label(self) -> str:
        return ref_name(self.factory) or self.name


class ModelConfig(Strict):
    """The architecture (defaults: :class:`~initsearch.models.spec.ModelSpec`); ``factory`` +
    ``kwargs``: the researcher's own ``nn.Module`` instead, ``activations`` the nonlinearity
    after a layer (by name) where tracing cannot see it (docs/own-model.md)."""

    name: str = ModelSpec.name
    depth: int | None = Field(default=ModelSpec.depth, ge=1)
    width: int | None = Field(default=ModelSpec.width, ge=1)
    activation: str = ModelSpec.activation
    batch_norm: bool = ModelSpec.batch_norm
    heads: int = Field(default=ModelSpec.heads, ge=1)
    norm_position: Literal["pre", "post", "none"] = ModelSpec.norm_position
    dropout: float = Field(default=ModelSpec.dropout, ge=0.0, lt=1.0)
    factory: Reference | None = None
    kwargs: dict[str, Any] = {}
    activations: dict[str, str] = {}

    @property
    def label(self) -> str:
        return ref_name(self.factory) or self.name


class TrainConfig(Strict):
    """Optimizer, schedule and budget of every trial; the defaults are the engine's
    (:class:`~initsearch.train.spec.OptimizerSpec`, :class:`~initsearch.train.spec.Budget`,
    :class:`~initsearch.train.spec.TrialSpec`), so a study file and ``initsearch train``
    agree."""

    optimizer: Literal["sgd", "adamw"] = OptimizerSpec.name
    lr: float = Field(default=OptimizerSpec.lr, gt=0)
    momentum: float = Field(default=OptimizerSpec.momentum, ge=0, lt=1)
    weight_decay: float = Field(default=OptimizerSpec.weight_decay, ge=0)
    warmup_epochs: float = Field(default=OptimizerSpec.warmup_epochs, ge=0)
    schedule: Literal["constant", "cosine"] = OptimizerSpec.schedule
    grad_clip: float | None = Field(default=OptimizerSpec.grad_clip, gt=0)
    epochs: int = Field(default=Budget.epochs, ge=1)
    batch_size: int = Field(default=Budget.batch_size, ge=1)
    log_every: int = Field(default=Budget.log_every, ge=1)
    divergence_loss: float = Field(default=Budget.divergence_loss, gt=0)
    device: str = TrialSpec.device
    bf16: bool = TrialSpec.bf16
    function: Reference | None = None
    kwargs: dict[str, Any] = {}
