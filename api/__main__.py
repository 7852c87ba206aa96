"""``python -m api``: the same as ``jobstream api``."""

from api.cli import main

main()
