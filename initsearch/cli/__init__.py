"""The ``initsearch`` command line.

Usage errors and :class:`ConfigError` exit with status 2 and one line naming the problem and
the fix; no traceback.
"""

from __future__ import annotations

import sys

from initsearch.cli.app import app
from initsearch.errors import ConfigError


def main(argv: list[str] | None = None) -> None:
    try:
        app(args=argv, prog_name="initsearch")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


__all__ = ["app", "main"]
