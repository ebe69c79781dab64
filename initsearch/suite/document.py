"""``suite.json``: the suite's comparisons and its answered questions, in one file.

Written to ``<workdir>/<suite>/report/suite.json`` beside the report. Keys::

    suite, description, seeds [int], command, comparisons [see initsearch.suite.results],
    questions [{id, title, answer, settings [comparison names],
                tables [{id, title, columns, rows [[str]], caption, notes}]}]

The tables are stored already formatted; :func:`refresh_questions` rebuilds them from the
comparisons (what ``initsearch suite findings`` prints), so a file written by an older version
gives the current tables. ``read`` also takes a gzipped copy (``suite.json.gz``).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from initsearch.errors import ConfigError
from initsearch.jsonsafe import dumps
from initsearch.suite.config import SuiteConfig
from initsearch.suite.plan import Planned
from initsearch.suite.questions import answer_questions
from initsearch.suite.results import comparison_results


def report_dir(suite: SuiteConfig) -> Path:
    return suite.folder / "report"


def build(suite: SuiteConfig, items: list[Planned], source: str) -> dict[str, Any]:
    """The suite's document from what its storages hold now (nothing is trained)."""
    comparisons = [comparison_results(item, suite) for item in items]
    return {
        "suite": suite.name,
        "description": suite.description,
        "seeds": list(range(suite.first_seed, suite.first_seed + suite.seeds)),
        "command": f"initsearch suite run {source}",
        "comparisons": comparisons,
        "questions": answer_questions(comparisons),
    }


def refresh_questions(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "questions": answer_questions(document["comparisons"])}


def write(document: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "suite.json"
    path.write_text(dumps(document, indent=1) + "\n")
    return path


def read(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / "suite.json"
    if not path.is_file():
        raise ConfigError(
            f"{path} does not exist; run `initsearch suite run SUITE.yaml` (or `suite report`) "
            "first, or give the path to a suite.json"
        )
    if path.suffix == ".gz":  # a copy kept in the repository (docs/findings/)
        return json.loads(gzip.decompress(path.read_bytes()))
    return json.loads(path.read_text())
