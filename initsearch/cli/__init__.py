"""The ``initsearch`` command line.

Usage errors (an unknown ``--model``, a missing argument) and :class:`ConfigError` exit with
status 2 and one line naming the option as the user typed it and the fix; no traceback. Click
would draw usage errors as a multi-line box; one ``error:`` line reads the same in a terminal,
a log file and a CI job, as the ConfigError lines do.
"""

from __future__ import annotations

import re
import sys

import typer

from initsearch.cli.app import app
from initsearch.errors import ConfigError

try:  # typer >= 0.22 runs its own copy of click: its usage errors are these classes
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover - an older typer on the real click
    from click import exceptions as click_errors


HINTS = {"--init": "`initsearch inits list` describes each scheme"}
"""Where to read more about an option's values, by option; else the command's ``--help``."""

_CHOICES = re.compile(r"is not one of ((?:'[^']*'(?:, )?)+)\.?")


def usage_line(err: click_errors.ClickException) -> str:
    """One line for a usage error: the option as typed, the choices, where to read more."""
    text = " ".join(err.format_message().split()).replace("Value error, ", "")
    text = _CHOICES.sub(lambda m: "is not one of: " + m.group(1).replace("'", ""), text)
    ctx = getattr(err, "ctx", None)
    param = getattr(err, "param", None)
    hint = next((HINTS[o] for o in getattr(param, "opts", ()) if o in HINTS), None)
    if hint is None and isinstance(err, click_errors.UsageError) and ctx is not None:
        hint = f"see `{ctx.command_path} --help`"
    return f"error: {text}" + (f" ({hint})" if hint else "")


def main(argv: list[str] | None = None) -> None:
    try:
        code = app(args=argv, prog_name="initsearch", standalone_mode=False)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except click_errors.NoArgsIsHelpError as err:  # `initsearch study`: its help
        err.show()
        sys.exit(err.exit_code)
    except click_errors.ClickException as err:
        print(usage_line(err), file=sys.stderr)
        sys.exit(err.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
