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


def sets_weights_itself(name: str | None, profiles: list[list[float]]) -> bool:
    """Whether scheme ``name`` is a learned-profile scheme whose recorded profiles are all
    exactly 1: it set each layer's weights itself (LPS from a probe batch) and recorded no
    factor over a base init, so drawing it at 1 would read as "the base init", which it is not.
    Reports leave it out of profile plots and say why."""
    if not draws_profile(name) or is_rule(name) or not profiles:
        return False
    return all(p and all(s == 1.0 for s in p) for p in profiles)


# the caption every profile plot gives when it leaves such a scheme out
UNRECORDED_NOTE = (
    "Not drawn: {names}. LPS sets each layer's weights itself from data (it scales every layer "
    "to preserve the signal of a probe batch), so it applies no factor over a base init and its "
    'recorded scales are all exactly 1. A line at 1 would read as "the same as the base init", '
    "which it is not; its own per-layer factors are data-dependent and not recorded."
)
