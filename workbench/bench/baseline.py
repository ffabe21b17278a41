"""The reference implementation of the notebook's method (`seed_baseline.py`), run as a
process of its own, back to back with ours (never at the same time), at the same
configuration and on identical text."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from workbench.bench.report import say
from workbench.engine.errors import WorkbenchError

SAMPLE_TOP_K = 5  # as the baseline samples


def baseline_path(path: Path) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise WorkbenchError(f"--vs-seed {path} {what}; give the path of seed_baseline.py (see its README)")
    return path.resolve()


def load_bench_corpus(source: str, *, plain: bool, baseline: Path | None) -> tuple[Any, Path | None]:
    """The corpus, and the file it was read from (None for a built-in corpus).

    Against the baseline, a named corpus is read as the plain file the baseline reads (CRLF ->
    LF only), so both sides see the same characters."""
    from workbench.corpora import catalog
    from workbench.engine.corpus.load import CorpusSpec, load_corpus

    entry = catalog.entry(source)
    if entry is not None and not entry.builtin and plain:
        found = catalog.find_cached(entry.name)
        beside = baseline.parent.parent / "corpora" / f"{entry.name}.txt" if baseline else None
        if found is None and beside is not None and beside.is_file():
            found = beside  # the baseline README's own layout: ../corpora/<name>.txt
        if found is None:
            found = Path(load_corpus(CorpusSpec(source), progress=sys.stderr).origin)  # downloads it
        source = str(found)
    elif entry is not None and entry.builtin and plain:
        raise WorkbenchError(f"the built-in corpus {source!r} has no file for the baseline to read; "
                             "pass a text file with --corpus")
    corpus = load_corpus(CorpusSpec(source), progress=sys.stderr)
    origin = Path(corpus.origin)
    return corpus, (origin if origin.is_file() else None)


def check_same_text(base: dict[str, Any], corpus: Any, warnings: list[str]) -> None:
    if base.get("corpus_chars") != len(corpus) or base.get("vocab") != len(corpus.vocab):
        message = (f"the baseline read {base.get('corpus_chars')} chars / {base.get('vocab')} symbols, we read "
                   f"{len(corpus)} / {len(corpus.vocab)}: the two sides did not train on identical text")
        warnings.append(message)
        say(f"warning: {message}")


def _baseline_env(device: Any) -> dict[str, str]:
    """The baseline picks cuda by itself whenever one is visible: show it the same device."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if device.type == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    elif device.type == "cuda" and device.index:
        visible = [v for v in env.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
        env["CUDA_VISIBLE_DEVICES"] = visible[device.index] if device.index < len(visible) else str(device.index)
    return env


def run_baseline(path: Path, args: argparse.Namespace, corpus_file: Path | None, device: Any, tmp_dir: Path, *,
                 budget: list[str], name: str = "baseline") -> dict[str, Any]:
    """Run the baseline with `budget` (["--steps", N] or ["--minutes", M]); its JSON results."""
    if corpus_file is None:
        raise WorkbenchError("the baseline needs a corpus file; pass one with --corpus")
    out = tmp_dir / f"{name}.json"
    command = [sys.executable, str(path), "--corpus", str(corpus_file), *budget, "--json", str(out),
               "--n-hidden", str(args.hidden), "--n-layers", str(args.layers), "--batch-size", str(args.batch_size),
               "--seq-length", str(args.seq_length), "--sample-chars", str(args.sample_chars),
               "--top-k", str(SAMPLE_TOP_K), "--seed", "0"]
    if args.threads:
        command += ["--threads", str(args.threads)]
    lines = _run_logged(command, path, device, tmp_dir)
    (tmp_dir / f"{name}.log").write_text("\n".join(lines) + "\n")
    try:
        data = json.loads(out.read_text())
    except (OSError, ValueError) as exc:
        raise WorkbenchError(f"the baseline {path} wrote no readable results to {out.name} ({exc})", exit_code=1) from None
    needed = ("train_chars_per_sec_excl_val", "train_chars_per_sec_incl_val", "sample_chars_per_sec",
              "final_val_loss_nats", "steps")
    missing = [k for k in needed if not isinstance(data.get(k), (int, float))]
    if missing:
        raise WorkbenchError(f"the baseline {path} results lack {', '.join(missing)}; is it seed_baseline.py?", exit_code=1)
    return data


def _run_logged(command: list[str], path: Path, device: Any, tmp_dir: Path) -> list[str]:
    """Run the baseline, echoing its progress lines; its output lines, or a one-line error."""
    lines: list[str] = []
    try:
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=_baseline_env(device), cwd=tmp_dir) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                if line.startswith("Epoch:"):  # its progress lines, every 10 steps
                    say(f"  baseline | {line.strip()}")
            rc = proc.wait()
    except OSError as exc:
        raise WorkbenchError(f"could not start the baseline {path}: {exc.strerror or exc}", exit_code=1) from None
    if rc != 0:
        last = next((ln.strip() for ln in reversed(lines) if ln.strip()), "no output")
        raise WorkbenchError(f"the baseline {path} failed (exit status {rc}): {last}", exit_code=1)
    return lines
