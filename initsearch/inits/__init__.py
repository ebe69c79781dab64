"""Init schemes behind one entry point: ``apply(model, spec, data=None) -> InitReport``."""

from initsearch.inits.apply import InitReport, apply
from initsearch.inits.registry import get_scheme, scheme_names
from initsearch.inits.spec import InitSpec

__all__ = ["InitReport", "InitSpec", "apply", "get_scheme", "scheme_names"]
