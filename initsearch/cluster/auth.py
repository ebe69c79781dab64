"""Ray's token authentication, seen from a client of the job API.

Ray (2.52+) protects a cluster started with ``RAY_AUTH_MODE=token``: every dashboard request
must carry ``Authorization: Bearer <token>``. Ray's own client adds the header only when the
*client* process runs in token mode, which a laptop talking to a remote cluster usually does
not; so we look the token up ourselves, in Ray's order of precedence, and always send it:
``--token-file``, then ``RAY_AUTH_TOKEN``, then ``RAY_AUTH_TOKEN_PATH``, then Ray's default
file ``~/.ray/auth_token`` (where ``ray get-auth-token --generate`` writes). A cluster without
authentication ignores the header.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from initsearch.errors import ConfigError

DEFAULT_TOKEN_FILE = Path("~/.ray/auth_token")


@dataclass(frozen=True)
class Token:
    """A token and where it came from (named in error messages, never the value)."""

    value: str
    source: str

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.value}"}


def _read(path: Path, what: str) -> str:
    try:
        value = path.expanduser().read_text().strip()
    except OSError as err:
        raise ConfigError(
            f"cannot read the Ray token file {path} ({what}): {err.strerror}; give the file "
            "that holds the cluster's token (on the head node: `ray get-auth-token`)"
        ) from None
    if not value:
        raise ConfigError(f"the Ray token file {path} ({what}) is empty; put the token in it")
    return value


def find_token(token_file: str | None = None) -> Token | None:
    """The token to send, or None when there is none anywhere."""
    if token_file:
        return Token(_read(Path(token_file), "--token-file"), f"--token-file {token_file}")
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return Token(os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN")
    path = os.environ.get("RAY_AUTH_TOKEN_PATH", "").strip()
    if path:
        return Token(_read(Path(path), "RAY_AUTH_TOKEN_PATH"), f"RAY_AUTH_TOKEN_PATH={path}")
    default = DEFAULT_TOKEN_FILE.expanduser()
    if default.is_file() and default.read_text().strip():
        return Token(default.read_text().strip(), str(DEFAULT_TOKEN_FILE))
    return None
