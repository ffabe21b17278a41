"""Looking at sessions and inside their models: `sessions`, `sample`, `probe`, `score`.
torch is imported only once a model is loaded (`sessions` never loads one)."""
from __future__ import annotations

import argparse
import json
import sys

from workbench.cli.output import checkpoint_line, print_table
from workbench.cli.parser import sessions_dir
from workbench.engine.config import SampleSettings
from workbench.engine.corpus.encode import describe_unknown, unknown_chars
from workbench.engine.errors import WorkbenchError
from workbench.engine.formats import when
from workbench.engine.session import Session, list_sessions
from workbench.engine.units import bits_per_char


def cmd_sessions(args: argparse.Namespace) -> int:
    folder = sessions_dir(args)
    rows = list_sessions(folder)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no sessions in {folder}; start one with `workbench train --corpus anna --headless`")
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


def cmd_sample(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    config = session.read_config()
    if args.num < 1:
        raise WorkbenchError(f"--num must be at least 1, got {args.num}")
    settings = SampleSettings(
        length=args.length, top_k=args.top_k or None, top_p=args.top_p, temperature=args.temperature,
        prime=args.prime if args.prime is not None else config.sample.prime,
    ).validate()
    from workbench.engine.corpus.encode import encode_text
    from workbench.engine.inference import load_model
    from workbench.engine.sampling import sample_stream

    model, vocab, info = load_model(session, args.checkpoint, args.device)
    encode_text(settings.prime, vocab)
    print(checkpoint_line(session, info), file=sys.stderr)
    stream = sample_stream(model, vocab, settings, num=args.num, seed=args.seed)
    if args.json or args.num > 1:
        texts = [settings.prime] * args.num
        for pieces in stream:
            texts = [t + p for t, p in zip(texts, pieces)]
        if args.json:
            print(json.dumps({"session": session.name, "step": info["step"], "checkpoint": info["which"],
                              "settings": settings.__dict__, "seed": args.seed, "samples": texts}, ensure_ascii=False))
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
    if not args.prime:
        raise WorkbenchError("the prime is empty; give at least one character with --prime")
    unknown = unknown_chars(args.prime, session.read_vocab())
    if unknown:  # before loading the model: answer at once
        raise WorkbenchError(f"the prime has {len(unknown)} character(s) the model never saw: {describe_unknown(unknown)}")
    from workbench.engine.inference import load_model
    from workbench.engine.probe import next_char_distribution

    model, vocab, info = load_model(session, args.checkpoint, args.device)
    dist = next_char_distribution(model, vocab, args.prime)
    top = dist[: args.top]
    if args.json:
        print(json.dumps({"session": session.name, "step": info["step"], "checkpoint": info["which"],
                          "prime": args.prime, "top": [{"char": c, "prob": p} for c, p in top],
                          "distribution": [{"char": c, "prob": p} for c, p in dist]}, ensure_ascii=False))
        return 0
    print(checkpoint_line(session, info), file=sys.stderr)
    prime = repr(args.prime)  # repr escapes newlines and control characters
    print(f"after {prime if len(prime) <= 60 else prime[:59] + '…'}:")
    width = 40
    for ch, p in top:
        print(f"  {repr(ch):<10} {p:8.4f}  {'#' * max(0, round(p * width))}")
    rest = 1.0 - sum(p for _, p in top)
    if len(dist) > len(top):
        print(f"  ({len(dist) - len(top)} more characters share {rest:.4f})")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from workbench.engine.corpus.text import read_text

    session = Session.open(sessions_dir(args), args.name)
    source = sys.stdin.buffer if args.file == "-" else args.file
    text, notes = read_text(source, keep_crlf=args.keep_crlf, encoding=args.encoding)
    unknown = unknown_chars(text, session.read_vocab())
    if unknown and not args.skip_unknown:  # before loading the model: answer at once
        raise WorkbenchError(f"the text has {len(unknown)} character(s) the model never saw: {describe_unknown(unknown)}; "
                             "remove them, or pass --skip-unknown to drop them before scoring")
    from workbench.engine.inference import load_model
    from workbench.engine.probe import score_text

    model, vocab, info = load_model(session, args.checkpoint, args.device)
    score = score_text(model, vocab, text, skip_unknown=args.skip_unknown)
    if score.unknown:
        notes.append(f"dropped {score.dropped:,} occurrence(s) of {len(score.unknown)} character(s) the model never saw: "
                     f"{describe_unknown(sorted(score.unknown))}")
    if args.json:
        print(json.dumps({"session": session.name, "step": info["step"], "checkpoint": info["which"], "file": args.file,
                          "chars": score.chars, "scored": score.scored, "mean_bits": score.mean_bits,
                          "mean_nats": score.mean_nats, "total_bits": score.total_bits,
                          "unknown": score.unknown, "notes": notes}, ensure_ascii=False))
        return 0
    print(checkpoint_line(session, info), file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{args.file}: {score.mean_bits:.4f} bits/char ({score.mean_nats:.4f} nats) over {score.scored:,} "
          f"predicted characters of {score.chars:,}")
    return 0
