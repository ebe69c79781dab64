"""Errors the user can fix: the CLI prints their message and exits with status 2."""


class ConfigError(ValueError):
    """A bad argument, spec or missing input; the message names the problem and the fix."""
