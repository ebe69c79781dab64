"""A researcher's own code, named in a study: ``"package.module:function"`` or the callable.

A study file names a model factory, a data factory or a training function by its import path
(``model: {factory: "mypkg.nets:make_cnn"}``); the Python API (``initsearch.run_study``)
also takes the callable itself. :func:`resolve` turns either into the callable, with an error
that names the reference and what to fix; :func:`ref_name` is the one string a study stores and
logs for it. The folders a study's references are imported from (the current folder and the
study file's) are put on ``sys.path`` by :func:`add_import_paths` and passed to Ray workers.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from initsearch.errors import ConfigError

FactoryRef = str | Callable[..., Any]
"""``"package.module:attribute"`` (dots allowed in the attribute) or a callable."""

REF_PATTERN = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")

IMPORT_PATHS: list[str] = []
"""Folders added to ``sys.path`` for a study's references (what Ray workers also need)."""


def check_ref(ref: object, what: str) -> FactoryRef:
    """``ref`` if it is a well-formed reference or a callable, else ConfigError."""
    if callable(ref):
        return ref
    if not isinstance(ref, str) or not REF_PATTERN.match(ref):
        raise ConfigError(
            f"{what} must be 'package.module:function' (e.g. 'mymodels:make_cnn'), got {ref!r}"
        )
    return ref


def ref_name(ref: FactoryRef | None) -> str | None:
    """The reference as text: the string itself, or ``module:qualname`` of a callable."""
    if ref is None or isinstance(ref, str):
        return ref
    module = getattr(ref, "__module__", None) or "?"
    name = getattr(ref, "__qualname__", None) or type(ref).__name__
    return f"{module}:{name}"


def resolve(ref: FactoryRef, what: str) -> Callable[..., Any]:
    """The callable ``ref`` names; ConfigError naming ``what`` and ``ref`` when the module
    cannot be imported, lacks the attribute, or the attribute is not callable."""
    if callable(ref):
        return ref
    check_ref(ref, what)
    module_name, _, attribute = ref.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"{what} {ref!r}: cannot import module {module_name!r} ({err}); run from the folder "
            "that holds it, put it next to the study file, or install it (pip install -e .)"
        ) from None
    except Exception as err:  # noqa: BLE001 - the user's module raised while importing
        raise ConfigError(
            f"{what} {ref!r}: importing {module_name!r} raised {type(err).__name__}: {err}"
        ) from None
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{what} {ref!r}: module {module_name!r} has no {attribute!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{what} {ref!r} is a {type(target).__name__}, not a callable")
    return target


def call(ref: FactoryRef, what: str, kwargs: dict[str, Any]) -> Any:
    """``resolve(ref)(**kwargs)``; an exception inside the user's code becomes a ConfigError
    naming the reference (the traceback stays attached as the cause)."""
    fn = resolve(ref, what)
    try:
        return fn(**kwargs)
    except ConfigError:
        raise
    except Exception as err:
        raise ConfigError(f"{what} {ref_name(ref)!r} raised {type(err).__name__}: {err}") from err


def add_import_paths(folders: Iterable[str | Path]) -> list[str]:
    """Append ``folders`` (absolute) to ``sys.path`` once, and remember them for Ray workers;
    returns every folder added so far. Appended, so a user's module never shadows an installed
    package of the same name."""
    for folder in folders:
        path = str(Path(folder).resolve())
        if path not in sys.path:
            sys.path.append(path)
        if path not in IMPORT_PATHS:
            IMPORT_PATHS.append(path)
    return list(IMPORT_PATHS)


def module_file(ref: FactoryRef) -> Path | None:
    """The file or package folder of the top-level module ``ref`` lives in, when it is the
    user's own code (not installed in site-packages): what a cluster job must ship."""
    module_name = ref.partition(":")[0] if isinstance(ref, str) else getattr(ref, "__module__", "")
    top = (module_name or "").split(".")[0]
    if not top or top == "__main__":
        return None
    module = sys.modules.get(top) or importlib.import_module(top)
    origin = getattr(module, "__file__", None)
    if origin is None:
        return None
    path = Path(origin).resolve()
    if any(part in ("site-packages", "dist-packages") for part in path.parts):
        return None
    return path.parent if path.name == "__init__.py" else path
