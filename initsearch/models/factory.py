"""A researcher's own model: ``ModelSpec.factory`` called with its kwargs, checked to be a
module.

Any ``nn.Module`` will do; its scalable layers are found by tracing
(:mod:`initsearch.models.discover`), so the model needs no initsearch base class.
"""

from __future__ import annotations

from torch import nn

from initsearch.errors import ConfigError
from initsearch.factories import call, ref_name
from initsearch.models.spec import ModelSpec


def build_factory_model(spec: ModelSpec) -> nn.Module:
    """``spec.factory(**spec.kwargs)``, which must return an ``nn.Module``."""
    assert spec.factory is not None
    model = call(spec.factory, "model factory", dict(spec.kwargs))
    if not isinstance(model, nn.Module):
        raise ConfigError(
            f"model factory {ref_name(spec.factory)!r} returned a {type(model).__name__}, not a "
            "torch.nn.Module; return the network itself (e.g. `return nn.Sequential(...)`)"
        )
    return model
