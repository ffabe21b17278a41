"""`workbench train` and `workbench resume`: a session trained in this terminal (the app or
progress lines) or in the background."""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench.cli.app import has_terminal, open_app, require_terminal
from workbench.cli.control import unpause
from workbench.cli.output import closing_lines
from workbench.cli.parser import sessions_dir
from workbench.engine.train.budget import given, set_budget
from workbench.engine.config import SampleSettings, TrainConfig
from workbench.engine.machine.torchrun import launched_by_torchrun
from workbench.engine.train.presets import preset_epochs, preset_fields
from workbench.engine.export.tensorboard_log import logdir_setting
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.session import ACTIVE_STATES, Session


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    sample = SampleSettings(
        length=args.sample_length,
        top_k=args.sample_top_k or None,
        top_p=args.sample_top_p,
        temperature=args.sample_temperature,
        prime=args.prime if args.prime is not None else SampleSettings().prime,
    )
    preset = getattr(args, "preset", None)
    model = preset_fields(preset, vars(args))
    return TrainConfig(
        corpus=args.corpus, encoding=args.encoding, keep_crlf=args.keep_crlf, val_frac=args.val_frac,
        **model, decay_rate=args.decay_rate, decay_after=args.decay_after, seed=args.seed, device=args.device, precision=args.precision, threads=args.threads,
        processes=args.nproc, dist_timeout=args.dist_timeout, max_restarts=args.max_restarts,
        tensorboard=logdir_setting(args.tensorboard),
        log_every=args.log_every, eval_every=args.eval_every, eval_batches=args.eval_batches,
        checkpoint_every=args.checkpoint_every, sample_every=args.sample_every, keep_last=args.keep_last,
        patience=args.patience, explosion_guard=not args.no_explosion_guard,
        max_steps=args.steps, max_epochs=preset_epochs(preset, epochs=args.epochs, steps=args.steps, minutes=args.minutes),
        max_minutes=args.minutes, sample=sample,
    ).validate()


def cmd_train(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    if launched_by_torchrun():
        return _train_under_torchrun(args, config)
    if not args.detach:
        require_terminal(args.headless)
    folder = sessions_dir(args)
    from workbench.engine.processes.group import check_processes

    check_processes(config.device, config.processes)
    session, corpus = _new_session(args, config, folder)
    if args.detach:
        return start_detached(session, folder)
    if not args.headless:
        return open_app(folder, session.name, start=True)
    return _train_headless(session, folder, corpus=corpus, command="workbench train")


def _new_session(args: argparse.Namespace, config: TrainConfig, folder: Path) -> tuple[Session, Any]:
    from workbench.engine.sessions.new_session import check_new_name, create_session, prepare_corpus

    if args.session is not None:  # '' too: an empty name is an error, not "make one up"
        check_new_name(folder, args.session)
    config, corpus, notes = prepare_corpus(config, prime_given=args.prime is not None, progress=sys.stderr)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"corpus: {corpus.describe()}", file=sys.stderr)
    session = create_session(folder, config, corpus, args.session)
    print(f"session: {session.name} ({session.root})", file=sys.stderr)
    return session, corpus


def _train_headless(session: Session, folder: Path, *, corpus: Any = None, command: str) -> int:
    """In this terminal: this process trains, or supervises the group that does."""
    if session.read_config().processes > 1:
        from workbench.engine.processes.group import run_group

        code = run_group(session, folder)
    else:
        from workbench.engine.processes.runner import train_here

        code = train_here(session, corpus=corpus, command=command)
    if code == 0:  # which session this was and what comes next (a failure's reason stays the last line)
        for line in closing_lines(session):
            print(line, file=sys.stderr)
    return code


def _train_under_torchrun(args: argparse.Namespace, config: TrainConfig) -> int:
    """`torchrun ... -m workbench train ... --headless`: every process of the group runs this;
    rank 0 makes the session (or, when torchrun restarted the group, continues it) and tells
    the others its name."""
    if not args.session and int(os.environ.get("TORCHELASTIC_MAX_RESTARTS") or 0) > 0:
        raise WorkbenchError("give the session a name (--session NAME) when torchrun may restart the group "
                             "(--max-restarts), so that a restarted group finds it and continues it")
    from workbench.engine.processes.runner import train_in_world

    folder = sessions_dir(args)

    def session_of(world: Any) -> Session:
        if not world.is_main:
            return Session(folder / world.broadcast(None))
        try:
            if world.restarts and args.session and (folder / args.session / "config.json").is_file():
                session = Session.open(folder, args.session)  # a restarted group: on from its checkpoint
            else:
                session, _ = _new_session(args, replace(config, processes=world.size), folder)
        except WorkbenchError as exc:
            world.report_error(str(exc))
            raise
        world.broadcast(session.name)
        return session

    return train_in_world(session_of, command="workbench train")


def cmd_resume(args: argparse.Namespace) -> int:
    folder = sessions_dir(args)
    if launched_by_torchrun():
        return _resume_under_torchrun(args, folder)
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
    set_group(session, args.nproc, args.max_restarts)
    if args.new_text:
        from workbench.engine.sessions.text import accept_new_text

        note = accept_new_text(session)
        print(f"note: {note}" if note else f"note: the text of {session.name!r} had not changed", file=sys.stderr)
    if args.detach:
        return start_detached(session, folder)
    if not args.headless:
        return open_app(folder, session.name, start=True)  # the budget is in config.json now
    return _train_headless(session, folder, command="workbench resume")


def set_group(session: Session, processes: int | None, max_restarts: int | None) -> None:
    """A new number of processes (or of restarts) for the session's next runs, checked and saved."""
    if processes is None and max_restarts is None:
        return
    config = session.read_config()
    changes = {k: v for k, v in (("processes", processes), ("max_restarts", max_restarts)) if v is not None}
    config = replace(config, **changes).validate()
    from workbench.engine.processes.group import check_processes

    check_processes(config.device, config.processes)
    session.write_config(config)


def _resume_under_torchrun(args: argparse.Namespace, folder: Path) -> int:
    from workbench.engine.processes.runner import train_in_world

    def session_of(world: Any) -> Session:
        if not world.is_main:
            return Session(folder / args.name)
        session = Session.open(folder, args.name)
        if not world.restarts:
            set_budget(session, args.steps, args.epochs, args.minutes)
            config = session.read_config()
            session.write_config(replace(config, processes=world.size))
        return session

    return train_in_world(session_of, command="workbench resume")


def start_detached(session: Session, folder: Path) -> int:
    from workbench.engine.processes.launcher import start_trainer

    pid = start_trainer(session, folder)
    if session.lock_holder() is None and session.read_status().get("state") not in ACTIVE_STATES:
        status = session.read_status()  # a budget so small that it was spent already
        print(f"session {session.name} {status.get('state')} at step {status.get('step')} (process {pid} is done)")
        return 0
    print(f"training {session.name} in the background (pid {pid}); `workbench attach {session.name}` to watch, "
          f"`workbench stop {session.name}` to stop")
    return 0
