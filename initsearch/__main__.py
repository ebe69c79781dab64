"""``python -m initsearch`` = the ``initsearch`` command."""

from initsearch.cli import main

main()
