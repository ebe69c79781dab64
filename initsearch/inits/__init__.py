"""Init schemes behind one entry point: ``apply(model, spec, data=None) -> InitReport``, for a
built-in model or any ``nn.Module`` (``data`` a Dataset or a sample batch to find its layers by).

Importing this package registers every scheme of :mod:`initsearch.inits.schemes`;
``all_schemes()`` lists them with their :class:`SchemeInfo` metadata.
"""

from initsearch.inits import schemes  # importing it registers every scheme
from initsearch.inits.apply import InitReport, apply
from initsearch.inits.registry import SchemeInfo, all_schemes, find_scheme, get_scheme, scheme_names
from initsearch.inits.spec import InitSpec

__all__ = [
    "InitReport",
    "InitSpec",
    "SchemeInfo",
    "all_schemes",
    "apply",
    "find_scheme",
    "get_scheme",
    "scheme_names",
    "schemes",
]
