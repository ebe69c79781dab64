"""docs/findings.md's tables are what ``initsearch suite findings`` prints from the suite.json
of the run behind the document (kept in docs/findings/): no number is copied by hand."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from initsearch.cli.app import app
from initsearch.suite.document import read
from initsearch.suite.findings import block, blocks, tables

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "findings.md"
DATA = ROOT / "docs" / "findings" / "emergence.suite.json.gz"


def test_every_table_of_the_findings_is_the_commands_output() -> None:
    text = DOC.read_text()
    found = blocks(text)
    expected = tables(read(DATA))
    assert set(found) == set(expected), "a table of the suite is missing from the document"
    printed = CliRunner().invoke(app, ["suite", "findings", str(DATA)])
    assert printed.exit_code == 0, printed.output
    for table_id, table in expected.items():
        assert block(table) in printed.output
        assert block(table) in text, f"table {table_id} differs from the command's output"


def test_the_findings_cover_every_question_with_its_command() -> None:
    text = DOC.read_text()
    ids = set(blocks(text))
    for question in ("depth", "families", "measure", "searched"):
        assert any(i.startswith(question) for i in ids), question
    assert "initsearch suite run suites/emergence.yaml" in text
    assert f"initsearch suite findings {DATA.relative_to(ROOT)} --update docs/findings.md" in text
