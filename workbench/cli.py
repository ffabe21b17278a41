"""`workbench` and its subcommands.

Nothing here imports torch at module level: `workbench --help` and `workbench sessions`
must answer at once. Every user error becomes one line on stderr that starts with
`workbench: error:` and exit status 2; never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from workbench.engine.config import CELLS, OPTIMIZERS, PRECISIONS, SCHEDULES, SampleSettings, TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.session import Session, default_sessions_dir, iter_sessions

DESCRIPTION = "Train character-level language models live, in the terminal or headless."


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but its errors follow our one-line convention."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise WorkbenchError(f"{message} (see `{self.prog} --help`)")


def _budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("budget (the first reached ends the run)")
    g.add_argument("--steps", type=int, help="total target steps of the session (resume continues up to it)")
    g.add_argument("--epochs", type=float, help="total target epochs of the session")
    g.add_argument("--minutes", type=float, help="wall-clock minutes for this run")
    p.add_argument("--headless", action="store_true", help="print progress lines instead of opening the terminal UI")
    p.add_argument("--detach", action="store_true",
                   help="train in the background and return at once (`workbench attach`, `pause`, `stop` reach it)")


def _sessions_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sessions-dir", type=Path, default=None,
                   help="where sessions live (default: $WORKBENCH_SESSIONS or ./sessions)")


def build_parser() -> ArgumentParser:
    d = TrainConfig()
    s = SampleSettings()
    parser = ArgumentParser(prog="workbench", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=_version())
    # Its own dest: a subcommand's --sessions-dir default would overwrite a shared one.
    parser.add_argument("--sessions-dir", dest="home_sessions_dir", metavar="DIR", type=Path, default=None,
                        help="where sessions live, for the terminal UI's home screen (default: $WORKBENCH_SESSIONS or ./sessions)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    t = sub.add_parser("train", help="start a new training session", description="Start a new training session.")
    t.add_argument("--corpus", required=True, help="a UTF-8 text file, or a known corpus: anna, tinyshakespeare, python-help")
    t.add_argument("--session", help="session name (default: derived from corpus, model and time)")
    _sessions_arg(t)
    c = t.add_argument_group("corpus")
    c.add_argument("--encoding", default=d.encoding, help="text encoding of the corpus (default %(default)s)")
    c.add_argument("--keep-crlf", action="store_true", help="keep CRLF line endings instead of turning them into LF")
    c.add_argument("--val-frac", type=float, default=d.val_frac, help="last fraction held out for validation (default %(default)s)")
    m = t.add_argument_group("model")
    m.add_argument("--cell", choices=CELLS, default=d.cell, help="recurrent cell (default %(default)s)")
    m.add_argument("--hidden", type=int, default=d.hidden, help="units per layer (default %(default)s)")
    m.add_argument("--layers", type=int, default=d.layers, help="recurrent layers (default %(default)s)")
    m.add_argument("--dropout", type=float, default=d.dropout, help="dropout (default %(default)s)")
    o = t.add_argument_group("optimisation")
    o.add_argument("--batch-size", type=int, default=d.batch_size, help="rows per batch (default %(default)s)")
    o.add_argument("--seq-length", type=int, default=d.seq_length, help="characters per row per step (default %(default)s)")
    o.add_argument("--lr", type=float, default=d.lr, help="learning rate (default %(default)s)")
    o.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="(default %(default)s)")
    o.add_argument("--weight-decay", type=float, default=d.weight_decay, help="(default %(default)s)")
    o.add_argument("--schedule", choices=SCHEDULES, default=d.schedule,
                   help="constant, cosine (warmup then cosine to --min-lr-frac) or decay (char-rnn's per-epoch decay) (default %(default)s)")
    o.add_argument("--warmup-steps", type=int, default=d.warmup_steps, help="cosine warmup steps (default %(default)s)")
    o.add_argument("--min-lr-frac", type=float, default=d.min_lr_frac, help="cosine floor as a fraction of --lr (default %(default)s)")
    o.add_argument("--decay-rate", type=float, default=d.decay_rate, help="decay schedule factor per epoch (default %(default)s)")
    o.add_argument("--decay-after", type=int, default=d.decay_after, help="decay schedule starts after this many epochs (default %(default)s)")
    o.add_argument("--clip", type=float, default=d.clip, help="gradient-norm clip, 0 for none (default %(default)s)")
    o.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")
    r = t.add_argument_group("hardware")
    r.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")
    r.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="fp32, bf16 (bfloat16 autocast) or auto: bf16 on CPUs with native bfloat16, else fp32 (default %(default)s)")
    r.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help=argparse.SUPPRESS)
    r.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    e = t.add_argument_group("monitoring")
    e.add_argument("--log-every", type=int, default=d.log_every, help="steps per progress report (default %(default)s)")
    e.add_argument("--eval-every", type=int, default=d.eval_every, help="steps per cheap validation estimate, 0 for none (default %(default)s)")
    e.add_argument("--eval-batches", type=int, default=d.eval_batches, help="validation batches in the estimate (default %(default)s)")
    e.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                   help="steps per checkpoint with a full validation pass, 0 for only at the end (default %(default)s)")
    e.add_argument("--keep-last", type=int, default=d.keep_last, help="step checkpoints kept besides latest and best (default %(default)s)")
    e.add_argument("--sample-every", type=int, default=d.sample_every, help="steps per sample, 0 for none (default %(default)s)")
    e.add_argument("--sample-length", type=int, default=s.length, help="(default %(default)s)")
    e.add_argument("--sample-top-k", type=int, default=s.top_k, help="(default %(default)s)")
    e.add_argument("--sample-top-p", type=float, default=None, help="(default off)")
    e.add_argument("--sample-temperature", type=float, default=s.temperature, help="(default %(default)s)")
    e.add_argument("--prime", default=None, help=f"prime text for samples (default {s.prime!r})")
    g = t.add_argument_group("guards")
    g.add_argument("--patience", type=int, default=None, help="stop after this many checkpoints without a better validation loss")
    g.add_argument("--no-explosion-guard", action="store_true", help="do not stop when the loss exceeds 3x the first")
    _budget_args(t)

    rs = sub.add_parser("resume", help="continue a session from its latest checkpoint",
                        description="Continue a session exactly where it stopped.")
    rs.add_argument("name", help="session name")
    _sessions_arg(rs)
    _budget_args(rs)

    sm = sub.add_parser("sample", help="generate text from a session's checkpoint",
                        description="Generate text from a session's checkpoint.")
    sm.add_argument("name", help="session name")
    _sessions_arg(sm)
    sm.add_argument("--prime", default=None, help="text to start from (default: the session's sample prime)")
    sm.add_argument("--length", type=int, default=s.length, help="characters to generate (default %(default)s)")
    sm.add_argument("--top-k", type=int, default=s.top_k, help="0 for no limit (default %(default)s)")
    sm.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold (default off)")
    sm.add_argument("--temperature", type=float, default=s.temperature, help="(default %(default)s)")
    sm.add_argument("--seed", type=int, default=None, help="same seed, same text (default: random)")
    sm.add_argument("--checkpoint", default="latest", help="latest, best or a step number (default %(default)s)")
    sm.add_argument("--num", type=int, default=1, help="samples drawn side by side in one batch (default %(default)s)")
    sm.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")
    sm.add_argument("--json", action="store_true", help="print the samples as JSON instead of streaming them")

    ls = sub.add_parser("sessions", help="list sessions", description="List sessions, most recently updated first.")
    _sessions_arg(ls)
    ls.add_argument("--json", action="store_true", help="machine-readable output")

    _add_control_parsers(sub)
    _add_inspect_parsers(sub)

    op = sub.add_parser("open", help="show a session in the terminal UI without training it",
                        description="Show a session (its chart, samples and events) in the terminal UI; r resumes training.")
    op.add_argument("name", help="session name")
    _sessions_arg(op)

    b = sub.add_parser("bench", help="measure speed and quality on this machine",
                       description="Measure training, evaluation and sampling speed, optionally against the reference baseline.")
    from workbench.bench_args import add_bench_arguments

    add_bench_arguments(b)
    return parser


def _version() -> str:
    from workbench import __version__

    return f"workbench {__version__}"


def sessions_dir(args: argparse.Namespace) -> Path:
    folder = Path(args.sessions_dir) if getattr(args, "sessions_dir", None) else default_sessions_dir()
    return checked_sessions_dir(folder)


def checked_sessions_dir(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise WorkbenchError(f"the sessions folder {folder} is a file, not a folder; "
                             "give a folder with --sessions-dir or WORKBENCH_SESSIONS (it is made when missing)")
    return folder


# -- train / resume -------------------------------------------------------------------------
def config_from_args(args: argparse.Namespace) -> TrainConfig:
    sample = SampleSettings(
        length=args.sample_length,
        top_k=args.sample_top_k or None,
        top_p=args.sample_top_p,
        temperature=args.sample_temperature,
        prime=args.prime if args.prime is not None else SampleSettings().prime,
    )
    return TrainConfig(
        corpus=args.corpus, encoding=args.encoding, keep_crlf=args.keep_crlf, val_frac=args.val_frac,
        cell=args.cell, hidden=args.hidden, layers=args.layers, dropout=args.dropout,
        batch_size=args.batch_size, seq_length=args.seq_length, lr=args.lr, optimizer=args.optimizer,
        weight_decay=args.weight_decay, schedule=args.schedule, warmup_steps=args.warmup_steps,
        min_lr_frac=args.min_lr_frac, decay_rate=args.decay_rate, decay_after=args.decay_after,
        clip=args.clip, seed=args.seed, device=args.device, precision=args.precision, threads=args.threads,
        log_every=args.log_every, eval_every=args.eval_every, eval_batches=args.eval_batches,
        checkpoint_every=args.checkpoint_every, sample_every=args.sample_every, keep_last=args.keep_last,
        patience=args.patience, explosion_guard=not args.no_explosion_guard,
        max_steps=args.steps, max_epochs=args.epochs, max_minutes=args.minutes, sample=sample,
    ).validate()


def _require_terminal(args: argparse.Namespace) -> None:
    """Without --headless the terminal UI opens, and it needs a terminal to draw in."""
    if not args.headless and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise WorkbenchError("the terminal UI needs a terminal; add --headless to train with progress lines "
                             "in this one (or --detach to train in the background)")


def _open_app(folder: Path, session: str | None = None, start: bool = False) -> int:
    from workbench.tui.app import run_app

    return run_app(folder, session=session, start=start)


def cmd_train(args: argparse.Namespace) -> int:
    if not args.detach:
        _require_terminal(args)
    config = config_from_args(args)
    folder = sessions_dir(args)
    from workbench.engine.new_session import check_new_name, create_session, prepare_corpus

    if args.session:
        check_new_name(folder, args.session)
    config, corpus, notes = prepare_corpus(config, prime_given=args.prime is not None, progress=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"corpus: {corpus.describe()}", file=sys.stderr)
    session = create_session(folder, config, corpus, args.session)
    print(f"session: {session.name} ({session.root})", file=sys.stderr)
    if args.detach:
        return _start_detached(session, folder)
    if not args.headless:
        return _open_app(folder, session.name, start=True)
    return _run_headless(session, corpus=corpus, command="workbench train")


def cmd_resume(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    if session.lock_holder() and not (args.headless or args.detach or _budget_given(args)):
        code = _unpause(session)
        if sys.stdin.isatty() and sys.stdout.isatty():
            return _open_app(sessions_dir(args), session.name, start=False)  # and watch it
        return code
    if not args.detach:
        _require_terminal(args)
    config = session.read_config()
    status = session.live_status()
    holder = session.lock_holder()
    if holder:
        raise WorkbenchError(f"session {session.name!r} is already being trained by process {holder.get('pid')}; "
                             f"it cannot be resumed twice (`workbench resume {session.name}` without options "
                             f"unpauses it, `workbench attach {session.name}` watches it)")
    if args.steps is not None or args.epochs is not None or args.minutes is not None:
        config = config.with_budget(args.steps, args.epochs, args.minutes).validate()
    step = int(status.get("checkpoint_step") or status.get("step") or 0)
    if config.max_steps is not None and config.max_steps <= step and args.epochs is None and args.minutes is None:
        raise WorkbenchError(f"session {session.name!r} is at step {step}, which already meets its target of "
                             f"{config.max_steps} steps; give a larger --steps (or --epochs / --minutes) to continue")
    session.write_config(config)
    if args.detach:
        return _start_detached(session, sessions_dir(args), args.steps, args.epochs, args.minutes)
    if not args.headless:
        return _open_app(sessions_dir(args), session.name, start=True)  # the budget is in config.json now
    return _run_headless(session, corpus=None, command="workbench resume")


class ProgressPrinter:
    """Headless progress: one line per log interval, plus evaluations, samples and checkpoints."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout
        self.total: int | None = None
        self.last_val: float | None = None

    def __call__(self, event) -> None:
        from workbench.engine import events as ev

        out = self.stream
        if isinstance(event, ev.Started):
            self.total = event.total_steps
            verb = "resuming at" if event.resumed else "starting at"
            print(f"{verb} step {event.step} on {event.device}: {event.params:,} parameters, "
                  f"{event.steps_per_epoch} steps per epoch", file=out, flush=True)
        elif isinstance(event, ev.StepsLogged):
            total = f"/{self.total}" if self.total else ""
            val = f"  val {self.last_val:.4f}" if self.last_val is not None else ""
            eta = f"  ETA {_duration(event.eta_seconds)}" if event.eta_seconds is not None else ""
            print(f"step {event.step}{total}  epoch {event.epoch + event.epoch_progress:.2f}  "
                  f"loss {event.train_loss:.4f} ({_bits_per_char(event.train_loss):.3f} bpc){val}  "
                  f"lr {event.lr:.2e}  |g| {event.grad_norm:.2f}  {event.chars_per_sec:,.0f} chars/s{eta}",
                  file=out, flush=True)
        elif isinstance(event, ev.Evaluated):
            self.last_val = event.val_loss
            if event.full:
                mark = "  (best)" if event.best else ""
                print(f"validation at step {event.step}: {event.val_loss:.4f} nats "
                      f"({_bits_per_char(event.val_loss):.3f} bpc){mark}", file=out, flush=True)
        elif isinstance(event, ev.SampleGenerated):
            text = event.text.replace("\r", "")
            print(f"--- sample at step {event.step} ---\n{text}\n---", file=out, flush=True)
        elif isinstance(event, ev.CheckpointSaved):
            print(f"checkpoint saved at step {event.step} ({event.reason}){' - new best' if event.best else ''}",
                  file=out, flush=True)
        elif isinstance(event, (ev.Paused, ev.Resumed)):
            print(f"{event.kind} at step {event.step}", file=out, flush=True)
        elif isinstance(event, ev.SettingChanged):
            print(f"{event.name} set to {event.value} at step {event.step}", file=out, flush=True)
        elif isinstance(event, ev.Warning):
            print(f"warning: {event.message}", file=sys.stderr, flush=True)
        elif isinstance(event, ev.Finished):
            best = f", best validation {event.best_val_loss:.4f} nats" if event.best_val_loss is not None else ""
            print(f"{event.state} at step {event.step} ({event.reason}){best}", file=out, flush=True)


def _bits_per_char(nats: float) -> float:
    from workbench.engine.units import bits_per_char

    return bits_per_char(nats)


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _run_headless(session: Session, *, corpus, command: str) -> int:
    from workbench.engine import commands as cmd
    from workbench.engine import events as ev
    from workbench.engine.control import ControlServer
    from workbench.engine.trainer import Trainer

    trainer = Trainer(session, corpus=corpus, command=command)
    trainer.subscribe(ProgressPrinter())
    received: list[str] = []

    def on_signal(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if received:  # a second signal: stop waiting for the step to finish
            raise KeyboardInterrupt
        received.append(name)
        print(f"\n{name} received: finishing the current step, saving a checkpoint, then validating it "
              "(again to abort; the checkpoint is written first)",
              file=sys.stderr, flush=True)
        trainer.send(cmd.Stop(reason=f"signal {name}", urgent=True))

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        final = trainer.run(while_locked=ControlServer(session, trainer))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if isinstance(final, ev.Failed):
        print(f"workbench: error: {final.error}", file=sys.stderr)
        return 1
    return 0


# -- sample ---------------------------------------------------------------------------------
def cmd_sample(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    config = session.read_config()
    if args.num < 1:
        raise WorkbenchError(f"--num must be at least 1, got {args.num}")
    settings = SampleSettings(
        length=args.length, top_k=args.top_k or None, top_p=args.top_p, temperature=args.temperature,
        prime=args.prime if args.prime is not None else config.sample.prime,
    ).validate()
    from workbench.engine.inference import load_model
    from workbench.engine.sampling import sample_stream

    model, vocab, info = load_model(session, args.checkpoint, args.device)
    from workbench.engine.corpus import encode_text

    encode_text(settings.prime, vocab)
    print(f"[{session.name} @ step {info['step']}, {info['which']} checkpoint, {info['device']}]", file=sys.stderr)
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


# -- sessions -------------------------------------------------------------------------------
def cmd_sessions(args: argparse.Namespace) -> int:
    folder = sessions_dir(args)
    rows = sorted((s.summary() for s in iter_sessions(folder)), key=lambda r: r.get("updated") or 0, reverse=True)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no sessions in {folder}; start one with `workbench train --corpus anna --headless`")
        return 0
    header = ("NAME", "CORPUS", "MODEL", "PARAMS", "STEPS", "EPOCH", "BEST VAL (bpc)", "STATE", "UPDATED")
    table = [header]
    for r in rows:
        best = r.get("best_val_loss")
        table.append((
            r["name"], str(r.get("corpus", "")), f"{r['cell']} {r['hidden']}x{r['layers']}" if r.get("cell") else "-",
            f"{r['params']:,}" if r.get("params") else "", str(r.get("steps", "")), str(r.get("epoch", "")),
            f"{best:.4f} ({_bits_per_char(best):.3f})" if best is not None else "-",
            r.get("state", ""), time.strftime("%Y-%m-%d %H:%M", time.localtime(r["updated"])) if r.get("updated") else "",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    for r in rows:
        if r.get("state") in ("failed", "broken") and r.get("error"):
            print(f"{r['name']}: {r['state']}: {r['error']}", file=sys.stderr)
    return 0


# -- background trainers: --detach, ps, pause, stop, attach ----------------------------------
def _add_control_parsers(sub: Any) -> None:
    ps = sub.add_parser("ps", help="list running trainers", description="List the trainers running now.")
    _sessions_arg(ps)
    ps.add_argument("--all", action="store_true", help="also list sessions whose trainer died or failed")
    ps.add_argument("--json", action="store_true", help="machine-readable output")

    pa = sub.add_parser("pause", help="pause a running trainer", description="Pause a running trainer after its current step.")
    pa.add_argument("name", help="session name")
    _sessions_arg(pa)

    st = sub.add_parser("stop", help="checkpoint and stop a running trainer",
                        description="Save a checkpoint, then end the trainer's run; waits until it has exited.")
    st.add_argument("name", help="session name")
    _sessions_arg(st)
    st.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for it to exit (default %(default)s)")

    at = sub.add_parser("attach", help="watch a session's training", description="Open the terminal UI on a session, "
                        "following its trainer live with full control (d detaches, the training goes on); with "
                        "--headless or without a terminal, print its progress lines instead (Ctrl-C detaches).")
    at.add_argument("name", help="session name")
    _sessions_arg(at)
    at.add_argument("--headless", action="store_true", help="print progress lines instead of opening the terminal UI")


def _budget_given(args: argparse.Namespace) -> bool:
    return args.steps is not None or args.epochs is not None or args.minutes is not None


def _start_detached(session: Session, folder: Path, steps: int | None = None, epochs: float | None = None,
                    minutes: float | None = None) -> int:
    from workbench.engine.launcher import start_trainer

    pid = start_trainer(session, folder, steps, epochs, minutes)
    if session.lock_holder() is None and session.read_status().get("state") not in ("running", "paused"):
        status = session.read_status()  # a budget so small that it was spent already
        print(f"session {session.name} {status.get('state')} at step {status.get('step')} (process {pid} is done)")
        return 0
    print(f"training {session.name} in the background (pid {pid}); `workbench attach {session.name}` to watch, "
          f"`workbench stop {session.name}` to stop")
    return 0


def _checked(reply: dict[str, Any]) -> dict[str, Any]:
    if not reply.get("ok"):
        raise WorkbenchError(f"the trainer refused: {reply.get('error', 'no reason given')}", exit_code=1)
    return reply


def _wait_for_state(session: Session, done, timeout: float) -> dict[str, Any]:
    """Ping the trainer until `done(reply)` or `timeout` seconds; returns the last reply."""
    from workbench.engine.control import ping

    deadline = time.monotonic() + timeout
    reply = _checked(ping(session))
    while not done(reply) and time.monotonic() < deadline:
        time.sleep(0.1)
        reply = _checked(ping(session))
    return reply


def _unpause(session: Session) -> int:
    from workbench.engine import commands as cmd
    from workbench.engine.control import send_command

    before = _checked(send_command(session, cmd.Resume()))
    reply = _wait_for_state(session, lambda r: r.get("state") != "paused", 5.0)
    state, step, pid = reply.get("state"), reply.get("step"), reply.get("pid")
    if before.get("state") == "running":
        print(f"session {session.name} is already running at step {step} (process {pid})")
    elif state == "paused":
        print(f"resume requested; session {session.name} is still paused at step {step} (process {pid})")
    else:
        print(f"session {session.name} is {state} at step {step} (process {pid})")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    from workbench.engine import commands as cmd
    from workbench.engine.control import send_command

    session = Session.open(sessions_dir(args), args.name)
    _checked(send_command(session, cmd.Pause()))
    # The trainer pauses between steps: after the current one (and its evaluation, if due).
    reply = _wait_for_state(session, lambda r: r.get("state") != "running", 10.0)
    if reply.get("state") == "paused":
        print(f"session {session.name} paused at step {reply.get('step')}; `workbench resume {session.name}` continues it")
    else:
        print(f"pause requested; session {session.name} is {reply.get('state')} at step {reply.get('step')} "
              "and pauses after its current step")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from workbench.engine import commands as cmd
    from workbench.engine.control import send_command

    session = Session.open(sessions_dir(args), args.name)
    reply = _checked(send_command(session, cmd.Stop()))
    holder = session.lock_holder() or {}
    print(f"stopping {session.name} at step {reply.get('step')}: saving a checkpoint ...", file=sys.stderr, flush=True)
    deadline = time.monotonic() + args.timeout
    while session.lock_holder() is not None:  # the lock goes with the process: then it has exited
        if time.monotonic() >= deadline:
            raise WorkbenchError(f"the trainer of {session.name!r} (process {holder.get('pid')}) is still finishing "
                                 f"after {args.timeout:g} s; see `workbench ps`", exit_code=1)
        time.sleep(0.1)
    status = session.live_status()
    if status.get("state") == "failed":
        raise WorkbenchError(f"session {session.name!r} failed while stopping: {status.get('error')}", exit_code=1)
    print(f"session {session.name} {status.get('state')} at step {status.get('step')} "
          f"(checkpoint at step {status.get('checkpoint_step')})")
    return 0


def _since(timestamp: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp)) if timestamp else ""


def cmd_ps(args: argparse.Namespace) -> int:
    from workbench.engine.session import ACTIVE_STATES

    folder = sessions_dir(args)
    rows, failed = [], 0
    for session in iter_sessions(folder):
        holder = session.lock_holder()
        if holder is not None:
            status = session.read_status()
            ours = status.get("pid") == holder.get("pid") and status.get("state") in ACTIVE_STATES
            rows.append({"session": session.name, "pid": holder.get("pid"), "host": holder.get("host"),
                         "state": status["state"] if ours else "starting", "step": status.get("step", 0),
                         "chars_per_sec": status.get("chars_per_sec") if ours else None,
                         "started": status.get("started") if ours else holder.get("started"),
                         "error": None, "path": str(session.root)})
            continue
        status = session.live_status()
        if status.get("state") == "failed":
            failed += 1
            if args.all:
                rows.append({"session": session.name, "pid": status.get("pid"), "host": None, "state": "failed",
                             "step": status.get("step", 0), "chars_per_sec": None, "started": status.get("started"),
                             "error": status.get("error"), "path": str(session.root)})
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print(f"no trainers running in {folder}")
    else:
        header = ("SESSION", "PID", "STATE", "STEP", "CHARS/S", "SINCE")
        table = [header] + [(r["session"], str(r["pid"] or ""), r["state"], str(r["step"]),
                             f"{r['chars_per_sec']:,.0f}" if r["chars_per_sec"] else "-", _since(r["started"]))
                            for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
        for r in rows:
            if r["error"]:
                print(f"{r['session']}: failed: {r['error']}")
    if failed and not args.all:
        print(f"({failed} session{'s' if failed > 1 else ''} failed; `workbench ps --all` shows them)", file=sys.stderr)
    return 0


class _AttachPrinter:
    """Turns the session's records back into the events ProgressPrinter prints, so an attached
    terminal reads like the trainer's own."""

    def __init__(self, status: dict[str, Any]) -> None:
        self.printer = ProgressPrinter()
        self.printer.total = status.get("total_steps")
        self.best: float | None = None
        self.ended: dict[str, Any] | None = None

    def note_history(self, metrics: list[dict[str, Any]]) -> None:
        for record in metrics:
            self._track(record)

    def _track(self, record: dict[str, Any]) -> bool:
        """Remember the validation loss for the progress lines; True for a new best."""
        val = record.get("val_loss")
        if val is None:
            return False
        self.printer.last_val = val
        if record.get("val_full") and (self.best is None or val < self.best):
            self.best = val
            return True
        return False

    def show(self, update) -> None:
        from workbench.engine import events as ev

        if update.reset:
            print("(the history was rewound: the session resumed from an earlier checkpoint)", flush=True)
            self.best = None
        items = [(r.get("step", 0), 0, r) for r in update.metrics]
        items += [(r.get("step", 0), 1, r) for r in update.samples]
        items += [(r.get("step", 0), 2, r) for r in update.events]
        items.sort(key=lambda item: (item[0], item[1]))
        for step, source, record in items:
            try:
                if source == 0:
                    if "train_loss" in record:
                        epoch = float(record.get("epoch", 0.0))
                        self.printer(ev.StepsLogged(
                            step=step, epoch=int(epoch), epoch_progress=epoch - int(epoch),
                            train_loss=record["train_loss"], lr=record.get("lr", 0.0),
                            grad_norm=record.get("grad_norm", 0.0), chars_per_sec=record.get("chars_per_sec", 0.0),
                            eta_seconds=None))
                    if "val_loss" in record:
                        best = self._track(record)
                        self.printer(ev.Evaluated(step=step, val_loss=record["val_loss"],
                                                  full=bool(record.get("val_full")), best=best))
                elif source == 1:
                    self.printer(ev.SampleGenerated(step=step, text=record.get("text", ""),
                                                    prime=record.get("prime", ""),
                                                    temperature=record.get("temperature", 1.0),
                                                    top_k=record.get("top_k"), top_p=record.get("top_p")))
                else:
                    event = ev.event_from_dict(record)
                    if isinstance(event, ev.Started):
                        self.printer.total = event.total_steps
                    if isinstance(event, ev.Failed):
                        print(f"failed at step {event.step}: {event.error}", flush=True)
                    else:
                        self.printer(event)
                    if isinstance(event, (ev.Finished, ev.Failed)):
                        self.ended = record
            except (KeyError, TypeError, ValueError):
                continue  # a record from another version of workbench: skip it, keep following


def _print_history(session: Session, update, status: dict[str, Any], best: float | None) -> None:
    metrics = update.metrics
    state = status.get("state", "created")
    total = status.get("total_steps")
    step = status.get("step", 0)
    line = f"session {session.name}: {state} at step {step}{f'/{total}' if total else ''}, epoch {status.get('epoch', 0)}"
    if metrics:
        last = next((m for m in reversed(metrics) if "train_loss" in m), None)
        if last is not None:
            line += f", train loss {last['train_loss']:.4f}"
    if best is not None:
        line += f", best validation {best:.4f} nats ({_bits_per_char(best):.3f} bpc)"
    print(line)
    print(f"history: {len(metrics)} metric records, {len(update.samples)} samples, {len(update.events)} events")
    if update.samples:
        sample = update.samples[-1]
        print(f"--- last sample, at step {sample.get('step')} ---\n{str(sample.get('text', '')).replace(chr(13), '')}\n---")
    if state == "failed" and status.get("error"):
        print(f"error: {status['error']}")


def cmd_attach(args: argparse.Namespace) -> int:
    from workbench.engine.follow import SessionFollower
    from workbench.engine.session import ACTIVE_STATES

    session = Session.open(sessions_dir(args), args.name)
    if not args.headless and sys.stdin.isatty() and sys.stdout.isatty():
        return _open_app(sessions_dir(args), session.name)  # the training screen follows the trainer live
    follower = SessionFollower(session)
    first = follower.poll()
    status = first.status or session.live_status()
    view = _AttachPrinter(status)
    view.note_history(first.metrics)
    _print_history(session, first, status, view.best)
    holder = session.lock_holder()
    if holder is None:
        print(f"no trainer is running for session {session.name} (state: {status.get('state')}); "
              f"`workbench resume {session.name} --detach` continues it")
        return 0
    print(f"attached to {session.name} (process {holder.get('pid')}); press Ctrl-C to detach (training continues)",
          flush=True)
    try:
        while True:
            time.sleep(0.25)
            update = follower.poll()
            view.show(update)
            if update.status is not None:
                status = update.status
            if status.get("state") not in ACTIVE_STATES and session.lock_holder() is None:
                view.show(follower.poll())  # what was written between the last poll and the exit
                status = session.live_status()
                break
    except KeyboardInterrupt:
        print(f"\ndetached; training continues (`workbench attach {session.name}` to watch again)", flush=True)
        return 0
    state = status.get("state")
    if view.ended is None:
        detail = f": {status.get('error')}" if state == "failed" and status.get("error") else ""
        print(f"the trainer ended: {state} at step {status.get('step')}{detail}", flush=True)
    return 1 if state == "failed" else 0


def cmd_open(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    _require_terminal(argparse.Namespace(headless=False))
    return _open_app(sessions_dir(args), session.name)


def cmd_bench(args: argparse.Namespace) -> int:
    from workbench.bench import run_bench

    return run_bench(args)


# -- studio, probe, score: looking inside a model --------------------------------------------
SCORE_DEFINITION = ("The text is fed to the model one character after another from a zero hidden state "
                    "(dropout off); every character after the first is predicted from those before it, and "
                    "the score is the mean of -log2 p over those predicted characters (bits per character).")


def _add_inspect_parsers(sub: Any) -> None:
    sd = sub.add_parser("studio", help="generate, probe and score text in the terminal UI",
                        description="Open the sample studio on a session: generate with any settings and "
                                    "checkpoint, see the next-character distribution, score a passage.")
    sd.add_argument("name", help="session name")
    _sessions_arg(sd)
    sd.add_argument("--checkpoint", default="latest", help="latest, best or a step number (default %(default)s)")
    sd.add_argument("--device", default="cpu",
                    help="where the studio runs the model: cpu, auto, cuda, cuda:N or mps (default %(default)s: "
                         "it leaves the accelerator to training)")

    pr = sub.add_parser("probe", help="the model's next-character probabilities after a prime",
                        description="Show the characters the model expects after a prime text, most likely first "
                                    "(the prime is fed from a zero hidden state).")
    pr.add_argument("name", help="session name")
    _sessions_arg(pr)
    pr.add_argument("--prime", required=True, help="the text before the character to predict")
    pr.add_argument("--checkpoint", default="latest", help="latest, best or a step number (default %(default)s)")
    pr.add_argument("--top", type=int, default=10, help="characters to show (default %(default)s)")
    pr.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")
    pr.add_argument("--json", action="store_true", help="JSON with the top characters and the full distribution")

    sc = sub.add_parser("score", help="bits per character of a text under a session's model",
                        description="Score a text file under a session's model. " + SCORE_DEFINITION +
                                    " The file is read like a corpus: UTF-8, CRLF -> LF unless --keep-crlf.")
    sc.add_argument("name", help="session name")
    sc.add_argument("file", help="a text file, or - for standard input")
    _sessions_arg(sc)
    sc.add_argument("--checkpoint", default="latest", help="latest, best or a step number (default %(default)s)")
    sc.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")
    sc.add_argument("--skip-unknown", action="store_true",
                    help="drop characters the model never saw (with a note) instead of refusing the text")
    sc.add_argument("--keep-crlf", action="store_true", help="keep CRLF line endings instead of turning them into LF")
    sc.add_argument("--encoding", default="utf-8", help="text encoding of the file (default %(default)s)")
    sc.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_studio(args: argparse.Namespace) -> int:
    session = Session.open(sessions_dir(args), args.name)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise WorkbenchError(f"the studio needs a terminal; without one use `workbench sample {session.name}`, "
                             f"`workbench probe {session.name} --prime TEXT` or `workbench score {session.name} FILE`")
    from workbench.tui.app import run_app

    return run_app(sessions_dir(args), studio=session.name, checkpoint=args.checkpoint, device=args.device)


def _checkpoint_line(session: Session, info: dict[str, Any]) -> str:
    return f"[{session.name} @ step {info['step']}, {info['which']} checkpoint, {info['device']}]"


def cmd_probe(args: argparse.Namespace) -> int:
    from workbench.engine.probe import describe_unknown, unknown_chars

    session = Session.open(sessions_dir(args), args.name)
    if args.top < 1:
        raise WorkbenchError(f"--top must be at least 1, got {args.top}")
    if not args.prime:
        raise WorkbenchError("the prime is empty; give at least one character with --prime")
    vocab = session.read_vocab()
    unknown = unknown_chars(args.prime, vocab)
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
    print(_checkpoint_line(session, info), file=sys.stderr)
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
    from workbench.engine.probe import describe_unknown, read_text_file, unknown_chars

    session = Session.open(sessions_dir(args), args.name)
    if args.file == "-":
        raw = sys.stdin.buffer.read()
        try:
            text = raw.decode(args.encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise WorkbenchError(f"standard input is not valid {args.encoding} ({exc})") from None
        text = text[1:] if text.startswith("\ufeff") else text
        notes = []
        if not args.keep_crlf and "\r\n" in text:
            notes.append(f"CRLF -> LF ({text.count(chr(13) + chr(10)):,} line endings)")
            text = text.replace("\r\n", "\n")
    else:
        text, notes = read_text_file(args.file, keep_crlf=args.keep_crlf, encoding=args.encoding)
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
    print(_checkpoint_line(session, info), file=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"{args.file}: {score.mean_bits:.4f} bits/char ({score.mean_nats:.4f} nats) over {score.scored:,} "
          f"predicted characters of {score.chars:,}")
    return 0


COMMANDS = {"open": cmd_open, "train": cmd_train, "resume": cmd_resume, "sample": cmd_sample, "sessions": cmd_sessions, "bench": cmd_bench,
            "ps": cmd_ps, "pause": cmd_pause, "stop": cmd_stop, "attach": cmd_attach}
COMMANDS.update({"studio": cmd_studio, "probe": cmd_probe, "score": cmd_score})


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            if not (sys.stdin.isatty() and sys.stdout.isatty()):
                parser.print_help()  # piped or scripted: there is no screen to open
                return 0
            return _open_app(checked_sessions_dir(Path(args.home_sessions_dir or default_sessions_dir())))
        return COMMANDS[args.command](args)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `workbench sample ... | head`: the reader left; that is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:  # what the file system refused that no check above foresaw
        if os.environ.get("WORKBENCH_DEBUG"):
            raise
        where = f": {exc.filename}" if exc.filename else ""
        print(f"workbench: error: {exc.strerror or exc}{where} (WORKBENCH_DEBUG=1 shows where)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
