"""Every built-in init scheme, one module each; importing this package registers them all.

A scheme is a function of an :class:`~initsearch.inits.registry.InitContext` decorated with
``@register``; a new one is a module here plus its line below (and a test named after it).
"""

from initsearch.inits.schemes import classic, emergence, gradinit, lps, updater

__all__ = ["classic", "emergence", "gradinit", "lps", "updater"]
