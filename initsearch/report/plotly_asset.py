"""One copy of plotly.js per runs folder, referenced relatively by every report in it.

A report under a runs folder (``<runs>/<study>/report/index.html``,
``<runs>/<study>/compare/report.html``) loads ``<runs>/_static/plotly.min.js`` through a
relative path, so the library (about 4.8 MB) is stored once however many reports the folder
holds, and the folder still opens offline and after being moved or copied whole. A report
written anywhere else (``--out /tmp/x``) gets its own ``plotly.min.js`` beside it.

Copying one report folder out of its runs folder breaks the relative path: each page then
shows a note saying which file to copy (``_static/plotly.min.js``) instead of blank figures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

STATIC_DIR = "_static"
PLOTLY_JS = "plotly.min.js"


def runs_root(folder: Path, study: str) -> Path | None:
    """The runs folder holding ``folder`` when it is laid out as ``<runs>/<study>/<kind>``."""
    folder = Path(folder).resolve()
    return folder.parent.parent if folder.parent.name == study else None


def _write_once(path: Path) -> None:
    """Write plotly.js to ``path`` unless the same library is already there (atomically, so a
    page opened meanwhile never loads half of it)."""
    from plotly.offline import get_plotlyjs

    text = get_plotlyjs()
    data = text.encode("utf-8")
    if path.is_file() and path.stat().st_size == len(data):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def plotly_src(page: Path, study: str) -> str:
    """Make plotly.js available to the HTML file ``page`` of study ``study`` and return the
    ``src`` the page loads it by (relative, with forward slashes)."""
    page = Path(page).resolve()
    root = runs_root(page.parent, study)
    target = root / STATIC_DIR / PLOTLY_JS if root is not None else page.parent / PLOTLY_JS
    _write_once(target)
    return Path(os.path.relpath(target, page.parent)).as_posix()


def figure_div(fig: Any, div_id: str) -> str | None:
    """A figure as an HTML fragment for a page that loads plotly.js itself; None for none."""
    if fig is None:
        return None
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        default_height=f"{fig.layout.height}px",
        config={"displaylogo": False, "responsive": True},
    )
