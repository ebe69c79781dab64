"""The report templates: the repository's ``dashboards/`` folder, shipped as package data.

People edit the templates in ``dashboards/`` at the repository root. The build maps that
folder into the wheel as the data package ``initsearch._dashboards`` (``pyproject.toml``), so a
plain ``pip install .`` renders reports too; templates are read through
:mod:`importlib.resources` (zip-safe, no file paths assumed). An editable install made before
that mapping existed has no ``initsearch._dashboards``: the templates are then read from the
clone's ``dashboards/`` beside the package.
"""

from __future__ import annotations

from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING

from initsearch.errors import ConfigError

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATE_PACKAGE = "initsearch._dashboards"
CLONE_DIR = Path(__file__).resolve().parents[2] / "dashboards"


def templates() -> Traversable:
    """Where the templates are read from: the installed data package, else the clone's folder."""
    try:
        return resources.files(TEMPLATE_PACKAGE)
    except ModuleNotFoundError:
        return CLONE_DIR


def template_env(template: str, folder: Path | None = None) -> Environment:
    """A Jinja2 environment holding ``template``, read from ``folder`` (default
    :func:`templates`): autoescaped, and strict, so a typo in a template fails rather than
    rendering blank. A missing template is a :class:`ConfigError` saying where it was sought."""
    from jinja2 import DictLoader, Environment, StrictUndefined

    source = Path(folder) if folder else templates()
    found = source.joinpath(template)
    if not found.is_file():
        raise ConfigError(
            f"report template {template} not found in {source}; the templates live in the "
            "repository's dashboards/ folder and ship with the package "
            "(initsearch._dashboards): reinstall initsearch (`pip install .` or `-e .`)"
        )
    loader = DictLoader({template: found.read_text(encoding="utf-8")})
    return Environment(loader=loader, autoescape=True, undefined=StrictUndefined)
