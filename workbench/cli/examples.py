"""The examples at the end of each subcommand's --help, and the help formatter that keeps their
lines as written (argparse would wrap them into one paragraph)."""
from __future__ import annotations

import argparse

EXAMPLES: dict[str, list[str]] = {
    "train": [
        "workbench train --corpus python-help --hidden 128 --batch-size 32 --seq-length 64 --steps 1000 --headless",
        "workbench train --corpus anna --epochs 2     # the notebook's model and text (downloaded once), in the UI",
        "workbench train --corpus ./my.txt --session mine --minutes 30 --detach",
    ],
    "resume": [
        "workbench resume NAME                 # a stopped session goes on from its checkpoint; a paused one unpauses",
        "workbench resume NAME --steps 5000    # train on until step 5,000 (a total, not 5,000 more)",
        "workbench resume NAME --minutes 10 --headless",
    ],
    "sample": [
        'workbench sample NAME --prime "The " --length 300',
        "workbench sample NAME --temperature 0.8 --top-k 0 --top-p 0.9 --seed 7 --num 3",
        "workbench sample NAME --checkpoint best --json",
    ],
    "sessions": ["workbench sessions", "workbench sessions --sessions-dir ~/runs --json"],
    "open": ["workbench open NAME          # its chart, samples and events; r resumes training"],
    "attach": ["workbench attach NAME", "workbench attach NAME --headless   # progress lines, Ctrl-C detaches"],
    "studio": ["workbench studio NAME", "workbench studio NAME --checkpoint best"],
    "ps": ["workbench ps", "workbench ps --all --json"],
    "pause": ["workbench pause NAME          # `workbench resume NAME` unpauses it"],
    "stop": ["workbench stop NAME", "workbench stop NAME --timeout 120"],
    "probe": ['workbench probe NAME --prime "The cat sa"', 'workbench probe NAME --prime "Th" --top 5 --json'],
    "score": ["workbench score NAME passage.txt", "cat passage.txt | workbench score NAME - --json"],
    "bench": ["workbench bench --minutes 1", "workbench bench --nproc 2"],
    "export": ["workbench export NAME --csv metrics.csv", "workbench export NAME --tensorboard runs/"],
    "serve": ["workbench serve", "workbench serve --host 0.0.0.0 --port 8000"],
}
PREFIX = "examples:\n"


def epilog(command: str) -> str | None:
    """The examples of `command`, as its --help ends them; NAME is any session's name (or a
    unique start of it)."""
    lines = EXAMPLES.get(command)
    if not lines:
        return None
    body = "".join(f"  {line}\n" for line in lines)
    tail = "\nNAME is a session's name, or the start of one that no other session's name shares.\n"
    return PREFIX + body + (tail if any("NAME" in line for line in lines) else "")


class HelpFormatter(argparse.HelpFormatter):
    """argparse's, except that the examples keep their lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(PREFIX):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_examples(subparsers: argparse._SubParsersAction) -> None:
    """Give each subcommand its examples (and the formatter that keeps them)."""
    for name, parser in subparsers.choices.items():
        text = epilog(name)
        if text is None:
            continue
        parser.epilog = text
        if parser.formatter_class is argparse.HelpFormatter:  # serve keeps its own (raw) formatter
            parser.formatter_class = HelpFormatter
