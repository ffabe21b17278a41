"""workbench: a terminal workbench for training character-level language models live."""

__version__ = "0.1.0"
