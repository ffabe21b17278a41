"""What to suggest to someone who has no session yet: a first run that works on this machine as
it is, offline included (a named corpus that is here, else the built-in one), with a model
small enough for its CPU when it has no GPU. The home screen and `workbench sessions` say the
same thing. Pure Python: no torch, no network (the corpora are only looked for)."""
from __future__ import annotations

from workbench.corpora.catalog import listing
from workbench.engine.machine.gpus import visible_gpus

BUILTIN = "python-help"
# The README's first run: word-like samples by step 1,000, about half a minute on a 2-core CPU.
SMALL_MODEL = "--hidden 128 --batch-size 32 --seq-length 64"


def corpus_here() -> str:
    """A named corpus that needs no download: the first one cached, else the built-in one."""
    return next((row["name"] for row in listing() if row["cached"]), BUILTIN)


def first_run(*, headless: bool = True) -> str:
    """`workbench train ...` that trains here without a network, in about a minute on a CPU."""
    parts = ["workbench train", f"--corpus {corpus_here()}"]
    if not visible_gpus():
        parts.append(SMALL_MODEL)
    parts.append("--steps 1000")
    if headless:
        parts.append("--headless")
    return " ".join(parts)
