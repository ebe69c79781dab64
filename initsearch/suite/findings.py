"""The findings document's tables, regenerated from ``suite.json``.

``docs/findings.md`` holds prose written by people and, between marker comments, tables that
only this module writes::

    <!-- suite-table: depth-first_epoch_test_accuracy -->
    ...the table's Markdown...
    <!-- /suite-table -->

``initsearch suite findings SUITE_JSON`` prints every table (``--update FILE`` rewrites the
blocks of FILE instead), so no number in the document is copied by hand, and a test checks
that each block equals what the command prints.
"""

from __future__ import annotations

import re
from typing import Any

from initsearch.errors import ConfigError
from initsearch.suite.document import refresh_questions
from initsearch.suite.tables import Table, markdown

BLOCK = re.compile(
    r"(<!-- suite-table: (?P<id>[\w.#()=,+-]+) -->\n)"
    r"(?P<body>(?:(?!<!--).)*?)\n?(<!-- /suite-table -->)",
    re.DOTALL,
)
"""A table block; its body holds no marker comment, so an empty block (a new document's
``<!-- suite-table: ID -->`` line directly followed by the closing one) is one block too."""


def tables(document: dict[str, Any]) -> dict[str, Table]:
    """Every table of the document, by id, rebuilt from its comparisons."""
    out: dict[str, Table] = {}
    for question in refresh_questions(document)["questions"]:
        for data in question["tables"]:
            table = Table.from_dict(data)
            out[table.id] = table
    return out


def render_all(document: dict[str, Any]) -> str:
    """All tables under their question's heading, each with its id (for the doc's markers)."""
    parts = []
    for question in refresh_questions(document)["questions"]:
        parts.append(f"## {question['title']}\n\n{question['answer']}")
        for data in question["tables"]:
            table = Table.from_dict(data)
            parts.append(f"### {table.title}\n{block(table)}")
    return "\n\n".join(parts) + "\n"


def block(table: Table) -> str:
    """The table between its markers, as the document holds it."""
    return f"<!-- suite-table: {table.id} -->\n{markdown(table)}\n<!-- /suite-table -->"


def blocks(text: str) -> dict[str, str]:
    """The doc's table blocks: id -> body."""
    return {m.group("id"): m.group("body") for m in BLOCK.finditer(text)}


def update(text: str, document: dict[str, Any]) -> str:
    """``text`` with every table block rewritten from the document; an id the document has
    no table for is an error (a renamed table would otherwise keep stale numbers)."""
    found = tables(document)
    unknown = sorted(set(blocks(text)) - set(found))
    if unknown:
        raise ConfigError(
            f"the document names tables the suite does not have: {', '.join(unknown)}; "
            f"known: {', '.join(found)}"
        )
    return BLOCK.sub(
        lambda m: m.group(1) + markdown(found[m.group("id")]) + "\n" + m.group(4), text
    )
