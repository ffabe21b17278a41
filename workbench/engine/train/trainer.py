"""The training loop: a plain object with no UI in it.

    trainer = Trainer(session)
    trainer.subscribe(print)                 # typed events, delivered off the loop's thread
    threading.Thread(target=trainer.run).start()
    trainer.send(Pause())                    # commands are applied between steps

The trainer persists everything itself (metrics, samples, events, status, checkpoints), so a
viewer can reconstruct a run from the session folder alone, and subscribers are only for
live display. What a checkpoint holds is training_state.py's; how the loss is logged,
metrics_log.py's.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import replace
from typing import Any, Callable, ContextManager

import torch

from workbench.engine.control import commands as cmd
from workbench.engine.control import events as ev
from workbench.engine.train.batches import WindowGrid
from workbench.engine.train.budget import RunClock, SpeedEstimate, eta_seconds, target_steps
from workbench.engine.config import SampleSettings, TrainConfig, check_learning_rate
from workbench.engine.corpus.encode import encode_text
from workbench.engine.corpus.load import Corpus
from workbench.engine.machine.device import describe_device
from workbench.engine.train.distributed import World, group_status, lost_contact, peer_died
from workbench.engine.errors import WorkbenchError
from workbench.engine.train.evaluation import validation_loss
from workbench.engine.train.guards import TrainingFailed, check_loss, describe_crash
from workbench.engine.sessions.lock import SessionLock
from workbench.engine.train.output import RunOutput
from workbench.engine.train.setup import build_step, choose_hardware, restore_saved, shared_corpus
from workbench.engine.infer.sampling import training_sample
from workbench.engine.machine.threads import LoadProbe, ThreadGovernor
from workbench.engine.train.schedule import learning_rate
from workbench.engine.sessions.session import Session
from workbench.engine.train.step import TrainingStep
from workbench.engine.train.steering import Steering
from workbench.engine.train.state import RunState, capture_rng, checkpoint_payload, write_checkpoint
from workbench.models.charrnn import CharRNN

class Trainer:
    def __init__(self, session: Session, *, corpus: Corpus | None = None, command: str = "workbench train",
                 world: World | None = None, config: TrainConfig | None = None) -> None:
        """In a group (`world`), every rank makes a Trainer; only rank 0 reads or writes the
        session, so the others are given its `config` (distributed.World.broadcast)."""
        self.session = session
        self.world = world or World()
        self.config: TrainConfig = config or session.read_config()
        self._corpus = corpus
        self._command_name = command
        self._steering = Steering(self.world)
        self._out = RunOutput(session, writes=self.world.is_main)
        self.state = "created"
        self.progress = RunState(base_lr=self.config.lr, sample_settings=replace(self.config.sample))
        # Set up by run(), once the session is ours:
        self.device = torch.device("cpu")
        self.autocast_dtype: torch.dtype | None = None
        self.precision = "fp32"
        self.vocab: list[str] = []
        self.val_grid: WindowGrid | None = None
        self.steps_per_epoch = 0
        self.model: CharRNN | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.params = 0
        self.total_steps: int | None = None
        self.checkpoint_step: int | None = None
        """The step of the last checkpoint written (None: none yet)."""
        self._pending_warnings: list[str] = []
        self._urgent_stop = False
        self._step: TrainingStep | None = None
        self._lr = self.config.lr
        self._speed = SpeedEstimate()
        self._clock = RunClock()
        self._sampled_at: int | None = None
        """The step of the last sample drawn in this run."""
        self._threads: ThreadGovernor | None = None
        self._load = LoadProbe()  # what the machine does while the run gets ready: its thread count

    @property
    def step(self) -> int:
        return self.progress.step

    @property
    def epoch(self) -> int:
        return self.progress.epoch

    @property
    def best_val_loss(self) -> float | None:
        return self.progress.best_val_loss

    # -- the interface the CLI and the UI use --------------------------------------------
    def subscribe(self, fn: Callable[[ev.Event], None]) -> Callable[[], None]:
        """Call `fn(event)` for every event, on a thread of its own. Returns unsubscribe."""
        return self._out.bus.subscribe(fn)

    def send(self, command: cmd.Command) -> None:
        """Thread-safe; applied before the next step (within one step; in a group, at the next
        step the ranks agree on, about a tenth of a second later)."""
        self._steering.inbox.put(command)

    def check(self, command: cmd.Command) -> None:
        """WorkbenchError for a command this trainer would refuse (a learning rate out of range,
        sample settings that do not validate or a prime it cannot read), so that whoever sent
        it hears why at once (the control socket replies with it) instead of a later warning."""
        if isinstance(command, cmd.SetLearningRate):
            check_learning_rate(command.lr, "the learning rate")
        elif isinstance(command, cmd.SetSampleSettings):
            self._new_sample_settings(command)

    def stop_for_signal(self, signum: int) -> None:
        """A signal asked this process to stop: finish the step, checkpoint (before validating:
        a kill may follow), end. In a group every rank stops at the same step."""
        self._steering.signal(signum)

    def run(self, while_locked: ContextManager[Any] | None = None) -> ev.Event:
        """Train until the budget is spent, a Stop command arrives or a guard trips.
        Returns the Finished or Failed event. Raises WorkbenchError for problems found
        before training starts (bad corpus, busy session, unusable checkpoint).
        `while_locked` is entered once the session lock is held and exited before it is
        released: the control socket lives exactly as long as this run owns the session."""
        main = self.world.is_main
        lock = SessionLock(self.session.lock_path, self.session.name)
        if main:
            lock.acquire(self._command_name)
        scope = contextlib.ExitStack()
        try:
            if while_locked is not None:
                scope.enter_context(while_locked)
            self._setup_in_group()
            try:
                return self._loop()
            except TrainingFailed as exc:
                return self._fail(str(exc))
            except Exception as exc:  # out of memory, disk full, a bug: keep the session sane
                lost = self.world.distributed and lost_contact(exc)
                cause = (self.world.lost_message(exc, f"at step {self.progress.step}") if lost else
                         describe_crash(exc, self.session, self.progress.step))
                return self._fail(f"{cause}; {self._what_is_kept()}", cause=cause, peer_died=lost and peer_died(exc))
            except KeyboardInterrupt:  # a second signal: no more waiting, but say what is on disk
                self._abandon()
                raise
        finally:
            scope.close()
            self._out.close()
            if main:
                lock.release()

    def _setup_in_group(self) -> None:
        """The setup, with a group's failures as one line: another rank's own words when it
        left them (distributed.World.report_error), else that contact was lost."""
        try:
            self._setup()
        except WorkbenchError as exc:
            self.world.report_error(str(exc))
            raise
        except Exception as exc:
            if self.world.distributed and lost_contact(exc):
                raise WorkbenchError(self.world.lost_message(exc, "while starting")) from None
            raise

    # -- setup ----------------------------------------------------------------------------
    def _setup(self) -> None:
        if self.world.is_main:
            self.session.check_layout()  # before anything is written: no file of it may lead elsewhere
        corpus, self.vocab = shared_corpus(self.session, self.config, self._corpus, self.world)
        hardware = choose_hardware(self.config, self.world, self._load)
        self.device, self.autocast_dtype, self.precision = hardware.device, hardware.autocast_dtype, hardware.precision
        self._threads = hardware.threads
        if hardware.warning:
            self._pending_warnings.append(hardware.warning)
        self._build(corpus)
        resumed = self._restore_if_saved()
        self._out.open(self.progress.step)
        self._announce(resumed)

    def _build(self, corpus: Corpus) -> None:
        self._step, self.val_grid = build_step(self.config, self.vocab, corpus, self.device, self.autocast_dtype,
                                               self.world)
        self.steps_per_epoch = len(self._step.grid)
        self.model, self.optimizer = self._step.model, self._step.optimizer

    def _restore_if_saved(self) -> bool:
        assert self._step is not None
        restored = restore_saved(self.session, self.config, self._step, self.vocab, self.device, self.world,
                                 self._pending_warnings)
        if restored is None:
            return False
        if restored.position >= len(self._step.grid):  # a shorter text (resume --new-text): a new epoch
            restored.position, restored.epoch = 0, restored.epoch + 1
            self._step.hidden = self._step.model.init_hidden(self._step.grid.rows)
        self.progress = restored
        self.checkpoint_step = restored.step
        return True

    def _announce(self, resumed: bool) -> None:
        assert self.model is not None
        p = self.progress
        self.params = self.model.num_parameters()
        self.total_steps = target_steps(self.config, self.steps_per_epoch)
        self.state = "running"
        group = group_status(self.world, self.device)
        self._out.status(
            state="running", pid=os.getpid(), step=p.step, epoch=p.epoch, device=f"{self.device} {self.precision}",
            params=self.params, best_val_loss=p.best_val_loss, error=None, started=time.time(),
            total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch, **group,
        )
        device = group.get("shape") or describe_device(self.device)
        self._out.emit(ev.Started(step=p.step, epoch=p.epoch, device=f"{device}, {self.precision}",
                              params=self.params, resumed=resumed, total_steps=self.total_steps,
                              steps_per_epoch=self.steps_per_epoch))

    # -- the loop -------------------------------------------------------------------------
    def _loop(self) -> ev.Event:
        for message in self._pending_warnings:
            self._out.emit(ev.Warning(step=self.progress.step, message=message))
        self._pending_warnings = []
        assert self._step is not None
        self._step.model.train()
        self._lr = self.progress.base_lr
        self._clock.start()
        while True:
            end = self._steering.take(self.progress.step, self._apply, self._minutes_spent)
            if end is None and self.state == "paused":
                self._clock.stop()
                end = self._steering.wait_while(lambda: self.state == "paused", self.progress.step, self._apply)
                self._clock.start()
                self._speed.pause()
            if end is None and self._budget_spent():
                end = ("budget", "finished")
            if end is not None:
                return self._finish(*end)
            c, p = self.config, self.progress
            self._lr = learning_rate(c.schedule, p.base_lr, p.step, p.epoch, total_steps=self.total_steps,
                                     warmup_steps=c.warmup_steps, min_lr_frac=c.min_lr_frac,
                                     decay_rate=c.decay_rate, decay_after=c.decay_after)
            self._out.flush()  # the previous step's record is complete
            self._step(p, self._lr)
            early = self._after_step()
            if early is not None:
                return early

    def _budget_spent(self) -> bool:
        return self.total_steps is not None and self.progress.step >= self.total_steps

    def _minutes_spent(self) -> bool:
        c = self.config
        return c.max_minutes is not None and self._clock.seconds() >= c.max_minutes * 60

    def _after_step(self) -> ev.Event | None:
        """Reports, evaluations, checkpoints and samples due after this step; the end of the run
        when early stopping calls it."""
        c, step = self.config, self.progress.step
        assert self._step is not None
        eval_due = c.eval_every > 0 and step % c.eval_every == 0
        checkpoint_due = c.checkpoint_every > 0 and step % c.checkpoint_every == 0
        if self._step.meter.steps >= c.log_every or eval_due or checkpoint_due:
            self._report_steps()
            if eval_due and not checkpoint_due:
                assert self.model is not None and self.val_grid is not None
                val = validation_loss(self.model, self.val_grid, c.eval_batches, self.autocast_dtype, self.world)
                self._merge(val_loss=val, val_full=False)
                self._out.emit(ev.Evaluated(step=step, val_loss=val, full=False, best=False))
        if checkpoint_due:
            self._save_checkpoint("periodic")
            if c.patience is not None and self.progress.evals_since_best >= c.patience:
                return self._finish("early stopping", "finished", saved=True)
        if c.sample_every > 0 and step % c.sample_every == 0:
            self._sample()
        return None

    def _report_steps(self) -> None:
        """Read the interval's loss from the device (the one sync of a log interval), check the
        guards, record and announce the interval."""
        assert self._step is not None
        if self._step.meter.steps == 0:
            return
        p = self.progress
        interval = self._step.meter.read()
        rate = interval.chars_per_sec
        self._speed.add(rate)
        p.first_loss = check_loss(interval.mean_loss, step=p.step, first_loss=p.first_loss, vocab_size=len(self.vocab),
                                  explosion_guard=self.config.explosion_guard, kept=self._what_is_kept)
        eta = eta_seconds(self.config, step=p.step, total_steps=self.total_steps,
                          chars_per_sec=self._speed.chars_per_sec, run_seconds=self._clock.seconds())
        self._merge(train_loss=interval.mean_loss, lr=self._lr, grad_norm=interval.mean_norm, chars_per_sec=rate)
        self._out.emit(ev.StepsLogged(step=p.step, epoch=p.epoch, epoch_progress=p.position / self.steps_per_epoch,
                                  train_loss=interval.mean_loss, lr=self._lr, grad_norm=interval.mean_norm,
                                  chars_per_sec=rate, eta_seconds=eta))
        # The interval's own speed goes into its record; the user is shown the steadier one.
        if self._threads is not None:
            self._threads.tick()  # fewer threads while another process keeps a core busy
        self._out.status(step=p.step, epoch=p.epoch, chars_per_sec=self._speed.chars_per_sec, lr=self._lr,
                     train_loss=interval.mean_loss, eta_seconds=eta, report_seconds=self._speed.report_seconds,
                     threads=torch.get_num_threads() if self.device.type == "cpu" else None)

    # -- checkpoints ----------------------------------------------------------------------
    def _save_checkpoint(self, reason: str, *, urgent: bool = False) -> None:
        """Full validation, then latest (+ best, + a kept step file) atomically. Urgent (a
        signal: the process may be killed within seconds, and a full validation of a large
        corpus takes longer): the state is written first, validated after, and written again
        with the result; a kill during the validation still leaves this step's checkpoint."""
        assert self.model is not None and self.val_grid is not None
        p = self.progress
        self._report_steps()  # steps since the last report belong to this checkpoint's record
        if urgent:
            if not all(bool(torch.isfinite(w).all()) for w in self.model.parameters()):
                raise TrainingFailed(f"the weights hold non-finite values at step {p.step}; not saving this model")
            self._write_checkpoint(None, best=False)
        val = validation_loss(self.model, self.val_grid, autocast_dtype=self.autocast_dtype, world=self.world)
        if not math.isfinite(val):
            saved = " (the checkpoint written on the signal holds it)" if urgent else ""
            raise TrainingFailed(f"validation loss is {val} at step {p.step}; not saving this model{saved}")
        best = p.best_val_loss is None or val < p.best_val_loss
        if best:
            p.best_val_loss = val
            p.evals_since_best = 0
        else:
            p.evals_since_best += 1
        self._merge(val_loss=val, val_full=True)
        self._out.emit(ev.Evaluated(step=p.step, val_loss=val, full=True, best=best))
        self._write_checkpoint(val, best=best)
        self._out.emit(ev.CheckpointSaved(step=p.step, path=str(self.session.checkpoint_path("latest")), reason=reason,
                                      best=best))

    def _write_checkpoint(self, val_loss: float | None, *, best: bool) -> None:
        assert self.model is not None and self.optimizer is not None and self._step is not None
        p, world = self.progress, self.world
        hidden = world.gather_rows(self._step.hidden)  # every row of the batch, from every rank
        rng = world.gather_objects(capture_rng(self.device))
        if world.is_main:
            payload = checkpoint_payload(model=self.model, optimizer=self.optimizer, vocab=self.vocab,
                                         config=self.config, state=p, hidden=hidden, rng=rng, val_loss=val_loss,
                                         precision=self.precision)
            write_checkpoint(self.session, payload, step=p.step, keep_last=self.config.keep_last, best=best)
        self.checkpoint_step = p.step
        self._out.status(step=p.step, epoch=p.epoch, best_val_loss=p.best_val_loss, checkpoint_step=p.step)

    # -- commands -------------------------------------------------------------------------
    def _apply(self, command: cmd.Command) -> str | None:
        p = self.progress
        if isinstance(command, cmd.Stop):
            self._urgent_stop = command.urgent
            return command.reason
        if isinstance(command, cmd.Pause) and self.state != "paused":
            self.state = "paused"
            self._out.flush()  # viewers see the last interval while we wait
            self._out.status(state="paused", step=p.step)
            self._out.emit(ev.Paused(step=p.step))
        elif isinstance(command, cmd.Resume) and self.state == "paused":
            self.state = "running"
            self._out.status(state="running", step=p.step)
            self._out.emit(ev.Resumed(step=p.step))
        elif isinstance(command, cmd.CheckpointNow):
            self._save_checkpoint("requested")
        elif isinstance(command, cmd.SampleNow):
            self._sample()
        elif isinstance(command, cmd.SetLearningRate):
            try:
                check_learning_rate(command.lr, "the learning rate")
            except WorkbenchError as exc:
                self._out.emit(ev.Warning(step=p.step, message=f"ignored: {exc}"))
            else:
                p.base_lr = float(command.lr)
                self._out.emit(ev.SettingChanged(step=p.step, name="lr", value=p.base_lr))
        elif isinstance(command, cmd.SetSampleSettings):
            self._set_sample_settings(command)
        return None

    def _new_sample_settings(self, command: cmd.SetSampleSettings) -> SampleSettings:
        changes = {k: v for k, v in command.to_dict().items() if k != "kind" and v is not None}
        candidate = replace(self.progress.sample_settings, **changes).validate()
        if self.vocab:  # known once the run is set up
            encode_text(candidate.prime, self.vocab)
        return candidate

    def _set_sample_settings(self, command: cmd.SetSampleSettings) -> None:
        p = self.progress
        try:
            candidate = self._new_sample_settings(command)
        except WorkbenchError as exc:
            self._out.emit(ev.Warning(step=p.step, message=f"ignored sample settings: {exc}"))
        else:
            p.sample_settings = candidate
            self._out.emit(ev.SettingChanged(step=p.step, name="sample", value=candidate.__dict__.copy()))

    # -- outputs --------------------------------------------------------------------------
    def _sample(self) -> None:
        if not self.world.is_main:
            return  # the others go on to the next step's collective and wait there
        assert self.model is not None
        s, self._sampled_at = self.progress.sample_settings, self.progress.step
        # A command that comes meanwhile (a pause, a stop) cuts it short: the loop answers it at once.
        record = training_sample(self.model, self.vocab, s, step=self.progress.step, seed=self.config.seed,
                                 stop=self._steering.inbox.pending)
        self._out.sample(record)
        self._out.emit(ev.SampleGenerated(step=record["step"], text=record["text"], prime=s.prime,
                                          temperature=s.temperature, top_k=s.top_k, top_p=s.top_p))

    def _merge(self, **values: Any) -> None:
        """Add values to the metrics record of the current step (rank 0 keeps the records)."""
        p = self.progress
        self._out.merge(p.step, p.epoch + p.position / self.steps_per_epoch, **values)

    # -- the end ------------------------------------------------------------------------
    def _finish(self, reason: str, state: str, saved: bool = False) -> ev.Event:
        p = self.progress
        if not saved and p.step != self.checkpoint_step:
            self._save_checkpoint(reason, urgent=self._urgent_stop)
        if state == "finished" and self.config.sample_every > 0 and 0 < p.step != self._sampled_at:
            self._sample()  # a run that ends between samples still shows what its final model writes
        self._report_steps()
        self._out.flush()
        self.state = state
        self._out.status(state=state, step=p.step, epoch=p.epoch, best_val_loss=p.best_val_loss, finished=time.time(),
                     reason=reason, pid=None, **self._steering.cost())
        event = ev.Finished(step=p.step, reason=reason, state=state, best_val_loss=p.best_val_loss)
        self._out.emit(event)
        return event

    def _abandon(self) -> None:
        self.state = "stopped"
        with contextlib.suppress(OSError):
            self._out.status(state="stopped", step=self.checkpoint_step or 0, reason="aborted", pid=None,
                                      finished=time.time(), error=None)

    def _what_is_kept(self) -> str:
        if self.checkpoint_step is None:
            return "no checkpoint had been written yet"
        return f"the last good checkpoint (step {self.checkpoint_step}) is kept"

    def _fail(self, message: str, cause: str | None = None, peer_died: bool = False) -> ev.Event:
        """The run failed: `message` for the user; `cause` (without what rank 0 keeps) is what another
        rank tells rank 0 of its own failure; `peer_died`: the group broke as a peer's connection closed."""
        self.state = "failed"
        self.world.report_error(cause or message)
        with contextlib.suppress(OSError):  # a full disk: viewers see the lock released and report a failure
            self._out.flush()
            self._out.status(state="failed", step=self.checkpoint_step or 0, error=message, pid=None,
                         finished=time.time(), lost_peer=message.startswith("lost contact"), peer_died=peer_died)
        event = ev.Failed(step=self.progress.step, error=message)
        self._out.emit(event)
        return event
