"""Which init schemes a report draws as a per-layer scale profile, asked of the registry.

Reports meet schemes by the names stored with trials and in ``compare.json``. Instead of
listing names, they ask each scheme's :class:`SchemeInfo`: ``profile`` schemes (the emergence
rule, GradInit, the updater, LPS) yield their own per-layer factors over a base init, which is
worth a line in a profile plot; a ``closed_form`` one is a rule (drawn dashed), the others are
learned from data or weights (drawn dotted). A name no longer registered (a study written by
another version) is treated as a plain scheme rather than an error, so old results still open.
"""

from __future__ import annotations

from initsearch.inits import find_scheme


def draws_profile(name: str | None) -> bool:
    """Whether scheme ``name`` yields its own per-layer scale profile."""
    info = find_scheme(name)
    return info is not None and info.profile


def is_rule(name: str | None) -> bool:
    """Whether scheme ``name``'s profile follows from depths and options alone."""
    info = find_scheme(name)
    return info is not None and info.closed_form is not None
