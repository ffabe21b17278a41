"""Part of the terminal workbench (see workbench/tui/__init__.py)."""
