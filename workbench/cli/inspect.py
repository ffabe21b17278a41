"""Looking at sessions and inside their models: `sessions`, `sample`, `probe`, `score`.
torch is imported only once a model is loaded (`sessions` never loads one)."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from workbench.cli.output import checkpoint_line, load_notes, print_json, print_table
from workbench.cli.parser import sessions_dir
from workbench.engine.config import MAX_PRIME, SampleSettings
from workbench.engine.corpus.encode import describe_unknown, unknown_chars
from workbench.engine.errors import WorkbenchError
from workbench.engine.formats import when
from workbench.engine.sessions.session import Session, list_sessions
from workbench.engine.sessions.suggest import first_run
from workbench.engine.units import bits_per_char


def cmd_sessions(args: argparse.Namespace) -> int:
    folder = sessions_dir(args)
    rows = list_sessions(folder)
    if args.json:
        print_json(rows, indent=2)
        return 0
    if not rows:
        where = "" if folder.is_dir() else " (the folder does not exist yet)"
        print(f"no sessions in {folder.absolute()}{where} (--sessions-dir or WORKBENCH_SESSIONS chooses the folder)")
        print(f"start one (it needs no network): {first_run()}")
        return 0
    table = [("NAME", "CORPUS", "MODEL", "PARAMS", "STEPS", "EPOCH", "BEST VAL (bpc)", "STATE", "UPDATED")]
    for r in rows:
        best = r.get("best_val_loss")
        table.append((
            r["name"], str(r.get("corpus", "")), f"{r['cell']} {r['hidden']}x{r['layers']}" if r.get("cell") else "-",
            f"{r['params']:,}" if r.get("params") else "", str(r.get("steps", "")), str(r.get("epoch", "")),
            f"{best:.4f} ({bits_per_char(best):.3f})" if best is not None else "-",
            r.get("state", ""), when(r.get("updated")) if r.get("updated") else "",
        ))
    print_table(table)
    for r in rows:
        if r.get("state") in ("failed", "broken") and r.get("error"):
            print(f"{r['name']}: {r['state']}: {r['error']}", file=sys.stderr)
    return 0


def _prime_of(args: argparse.Namespace) -> str | None:
    """--prime, or the text of --prime-file (read like a text to score), or None."""
    if getattr(args, "prime_file", None) is None:
        return args.prime
    from workbench.engine.corpus.text import text_pieces

    source = sys.stdin.buffer if args.prime_file == "-" else args.prime_file
    pieces: list[str] = []
    held = 0
    # Read no further than the longest prime that is fed (sample's rule, SampleSettings): a
    # 10 MB prime file is refused after its first 100,000 characters, not read whole.
    for piece in text_pieces(source, piece_bytes=1 << 16):
        pieces.append(piece)
        held += len(piece)
        if held > MAX_PRIME:
            raise WorkbenchError(f"--prime-file {args.prime_file} holds more than {MAX_PRIME:,} characters, the "
                                 f"most a prime may have; give its last part (`workbench score` reads a text of "
                                 f"any length)")
    text = "".join(pieces)
    if not text:
        raise WorkbenchError(f"{args.prime_file} is empty; a prime needs at least one character")
    return text


def _load(session: Session, args: argparse.Namespace) -> tuple[Any, list[str], dict[str, Any]]:
    """The model that answers, with a warning on stderr for each damaged checkpoint passed over."""
    from workbench.engine.infer.inference import load_model

    model, vocab, info = load_model(session, args.checkpoint, args.device, precision=args.precision,
                                    quantize=args.quantize)
    load_notes(info, args.json)
    return model, vocab, info


def cmd_sample(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    config = session.read_config()
    if args.num < 1:
        raise WorkbenchError(f"--num must be at least 1, got {args.num}")
    prime = _prime_of(args)
    settings = SampleSettings(
        length=args.length, top_k=args.top_k or None, top_p=args.top_p, temperature=args.temperature,
        prime=prime if prime is not None else config.sample.prime,
    ).validate()
    from workbench.engine.corpus.encode import encode_text
    from workbench.engine.infer.sampling import sample_stream

    model, vocab, info = _load(session, args)
    encode_text(settings.prime, vocab)
    print(checkpoint_line(session, info), file=sys.stderr)
    stream = sample_stream(model, vocab, settings, num=args.num, seed=args.seed)
    if args.json or args.num > 1:
        texts = [settings.prime] * args.num
        for pieces in stream:
            texts = [t + p for t, p in zip(texts, pieces)]
        if args.json:
            print_json({"session": session.name, "step": info["step"], "checkpoint": info["which"],
                        "settings": settings.__dict__, "seed": args.seed, "samples": texts, "precision": info["precision"],
                        "quantized": info["quantized"],
                        "warnings": info["warnings"]})
        else:
            for i, text in enumerate(texts, 1):
                print(f"--- sample {i}/{args.num} ---\n{text}")
        return 0
    out = sys.stdout
    out.write(settings.prime)
    out.flush()
    for pieces in stream:
        out.write(pieces[0])
        out.flush()
    out.write("\n")
    return 0


def cmd_probe(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    if args.top < 1:
        raise WorkbenchError(f"--top must be at least 1, got {args.top}")
    prime = _prime_of(args)
    if not prime:
        raise WorkbenchError("the prime is empty; give at least one character with --prime")
    if len(prime) > MAX_PRIME:
        raise WorkbenchError(f"the prime is {len(prime):,} characters long; at most {MAX_PRIME:,} are fed")
    unknown = unknown_chars(prime, session.read_vocab())
    if unknown:  # before loading the model: answer at once
        raise WorkbenchError(f"the prime has {len(unknown)} character(s) the model never saw: {describe_unknown(unknown)}")
    from workbench.engine.infer.probe import next_char_distribution

    model, vocab, info = _load(session, args)
    dist = next_char_distribution(model, vocab, prime)
    top = dist[: args.top]
    if args.json:
        print_json({"session": session.name, "step": info["step"], "checkpoint": info["which"],
                    "prime": prime, "top": [{"char": c, "prob": p} for c, p in top],
                    "distribution": [{"char": c, "prob": p} for c, p in dist], "warnings": info["warnings"],
                    "precision": info["precision"], "quantized": info["quantized"]})
        return 0
    print(checkpoint_line(session, info), file=sys.stderr)
    shown = repr(prime)  # repr escapes newlines and control characters
    print(f"after {shown if len(shown) <= 60 else '…' + shown[-59:]}:")  # the end is what the model just read
    width = 40
    for ch, p in top:
        print(f"  {repr(ch):<10} {p:8.4f}  {'#' * max(0, round(p * width))}")
    rest = 1.0 - sum(p for _, p in top)
    if len(dist) > len(top):
        print(f"  ({len(dist) - len(top)} more characters share {rest:.4f})")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from workbench.engine.corpus.text import text_pieces
    from workbench.engine.infer.probe import score_pieces
    from workbench.engine.progress_line import ProgressLine

    session = Session.open(sessions_dir(args), args.name)
    if args.file != "-" and not Path(args.file).expanduser().exists():  # a file to score, never a corpus name
        raise WorkbenchError(f"{args.file} does not exist; give the path of a text file to score (or - for standard input)")
    source = sys.stdin.buffer if args.file == "-" else args.file
    model, vocab, info = _load(session, args)
    notes: list[str] = []
    total = _size_of(args.file)
    line = ProgressLine("scoring", "standard input" if args.file == "-" else args.file,
                        sys.stderr if sys.stderr.isatty() and not args.json else None)
    read = [0]
    started = time.monotonic()

    def scored_so_far(chars: int) -> None:
        rate = chars / max(time.monotonic() - started, 1e-9)
        line.update(read[0], total, f"{chars:,} chars  {rate:,.0f} chars/s")

    pieces = text_pieces(source, keep_crlf=args.keep_crlf, encoding=args.encoding, notes=notes,
                         on_bytes=lambda n: read.__setitem__(0, n))
    try:
        score = score_pieces(model, vocab, pieces, skip_unknown=args.skip_unknown, on_scored=scored_so_far)
    except BaseException:
        line.abort()
        raise
    seconds = time.monotonic() - started
    line.finish(read[0], total, f"{score.scored:,} chars in {seconds:.1f} s ({score.scored / max(seconds, 1e-9):,.0f} chars/s)")
    if score.unknown:
        notes.append(f"dropped {score.dropped:,} occurrence(s) of {len(score.unknown)} character(s) the model never saw: "
                     f"{describe_unknown(sorted(score.unknown))}")
    if args.json:
        print_json({"session": session.name, "step": info["step"], "checkpoint": info["which"], "file": args.file,
                    "chars": score.chars, "scored": score.scored, "mean_bits": score.mean_bits,
                    "mean_nats": score.mean_nats, "total_bits": score.total_bits,
                    "unknown": score.unknown, "notes": notes, "warnings": info["warnings"], "precision": info["precision"],
                    "quantized": info["quantized"],
                    "seconds": round(seconds, 3)})
        return 0
    print(checkpoint_line(session, info), file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{args.file}: {score.mean_bits:.4f} bits/char ({score.mean_nats:.4f} nats) over {score.scored:,} "
          f"predicted characters of {score.chars:,}")
    return 0


def _size_of(file: str) -> int | None:
    """The bytes a regular file holds (a progress bar's total); None for a stream."""
    try:
        path = Path(file).expanduser()
        return path.stat().st_size if file != "-" and path.is_file() else None
    except OSError:
        return None
