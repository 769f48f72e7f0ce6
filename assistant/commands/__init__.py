"""Subcommands of the `sentinelle` CLI, one module per job (see assistant/cli.py)."""
