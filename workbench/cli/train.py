"""`workbench train` and `workbench resume`: a session trained in this terminal (the app or
progress lines) or in the background."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from workbench.cli.app import has_terminal, open_app, require_terminal
from workbench.cli.control import unpause
from workbench.cli.parser import sessions_dir
from workbench.engine.budget import given, set_budget
from workbench.engine.config import SampleSettings, TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.session import ACTIVE_STATES, Session


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


def cmd_train(args: argparse.Namespace) -> int:
    if not args.detach:
        require_terminal(args.headless)
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
        return start_detached(session, folder)
    if not args.headless:
        return open_app(folder, session.name, start=True)
    from workbench.engine.runner import train_here

    return train_here(session, corpus=corpus, command="workbench train")


def cmd_resume(args: argparse.Namespace) -> int:
    folder = sessions_dir(args)
    session = Session.open(folder, args.name)
    budget = (args.steps, args.epochs, args.minutes)
    if session.lock_holder() and not (args.headless or args.detach or given(*budget)):
        code = unpause(session)
        return open_app(folder, session.name, start=False) if has_terminal() else code  # and watch it
    if not args.detach:
        require_terminal(args.headless)
    holder = session.lock_holder()
    if holder:
        raise WorkbenchError(f"session {session.name!r} is already being trained by process {holder.get('pid')}; "
                             f"it cannot be resumed twice (`workbench resume {session.name}` without options "
                             f"unpauses it, `workbench attach {session.name}` watches it)")
    set_budget(session, *budget)
    if args.detach:
        return start_detached(session, folder)
    if not args.headless:
        return open_app(folder, session.name, start=True)  # the budget is in config.json now
    from workbench.engine.runner import train_here

    return train_here(session, command="workbench resume")


def start_detached(session: Session, folder: Path) -> int:
    from workbench.engine.launcher import start_trainer

    pid = start_trainer(session, folder)
    if session.lock_holder() is None and session.read_status().get("state") not in ACTIVE_STATES:
        status = session.read_status()  # a budget so small that it was spent already
        print(f"session {session.name} {status.get('state')} at step {status.get('step')} (process {pid} is done)")
        return 0
    print(f"training {session.name} in the background (pid {pid}); `workbench attach {session.name}` to watch, "
          f"`workbench stop {session.name}` to stop")
    return 0
