"""The training loop: a plain object with no UI in it.

    trainer = Trainer(session)
    trainer.subscribe(print)                 # typed events, delivered off the loop's thread
    threading.Thread(target=trainer.run).start()
    trainer.send(Pause())                    # commands are applied between steps

The trainer persists everything itself (metrics, samples, events, status, checkpoints), so a
viewer can reconstruct a run from the session folder alone, and subscribers are only for
live display.
"""
from __future__ import annotations

import contextlib
import errno
import math
import os
import queue
import random
import threading
import time
import traceback
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, ContextManager

import numpy as np
import torch
import torch.nn.functional as F

from workbench.corpora import catalog
from workbench.engine import commands as cmd
from workbench.engine import events as ev
from workbench.engine.batches import WindowGrid
from workbench.engine.budget import target_steps
from workbench.engine.bus import EventBus
from workbench.engine.checkpoint import CheckpointError, link_atomically, load_first_good, save_checkpoint
from workbench.engine.config import SampleSettings, TrainConfig
from workbench.engine.corpus.checks import check_fits
from workbench.engine.corpus.encode import encode_text
from workbench.engine.corpus.load import Corpus, CorpusSpec, load_corpus
from workbench.engine.device import (describe_device, precision_name, precision_warning, resolve_device,
                                     resolve_precision)
from workbench.engine.errors import WorkbenchError
from workbench.engine.evaluation import as_tensor_ids, validation_loss
from workbench.engine.lock import SessionLock
from workbench.engine.sampling import generate
from workbench.engine.schedule import learning_rate
from workbench.engine.session import JsonlWriter, Session
from workbench.models import CharRNN, ModelConfig


class TrainingFailed(Exception):
    """A guard tripped or the run broke; the message is for the user."""


class Trainer:
    def __init__(self, session: Session, *, corpus: Corpus | None = None, command: str = "workbench train") -> None:
        self.session = session
        self.config: TrainConfig = session.read_config()
        self._corpus = corpus
        self._command_name = command
        self._commands: queue.SimpleQueue[cmd.Command] = queue.SimpleQueue()
        self._bus = EventBus()
        self.state = "created"
        self.step = 0
        self.epoch = 0
        self.position = 0
        self.best_val_loss: float | None = None
        self.last_event: ev.Event | None = None
        self._pending_warnings: list[str] = []

    # -- the interface the CLI and the UI use --------------------------------------------
    def subscribe(self, fn: Callable[[ev.Event], None]) -> Callable[[], None]:
        """Call `fn(event)` for every event, on a thread of its own. Returns unsubscribe."""
        return self._bus.subscribe(fn)

    def send(self, command: cmd.Command) -> None:
        """Thread-safe; applied before the next step (within one step)."""
        self._commands.put(command)

    def run(self, while_locked: ContextManager[Any] | None = None) -> ev.Event:
        """Train until the budget is spent, a Stop command arrives or a guard trips.
        Returns the Finished or Failed event. Raises WorkbenchError for problems found
        before training starts (bad corpus, busy session, unusable checkpoint).
        `while_locked` is entered once the session lock is held and exited before it is
        released: the control socket lives exactly as long as this run owns the session."""
        lock = SessionLock(self.session.lock_path, self.session.name)
        lock.acquire(self._command_name)
        scope = contextlib.ExitStack()
        try:
            if while_locked is not None:
                scope.enter_context(while_locked)
            self._setup()
            try:
                final = self._loop()
            except TrainingFailed as exc:
                final = self._fail(str(exc))
            except Exception as exc:  # out of memory, disk full, a bug: keep the session sane
                final = self._fail(f"{self._describe_crash(exc)}; {self._what_is_kept()}")
            except KeyboardInterrupt:  # a second signal: no more waiting, but say what is on disk
                self._abandon()
                raise
            return final
        finally:
            scope.close()
            self._close_writers()
            self._bus.close()
            lock.release()

    # -- setup ----------------------------------------------------------------------------
    def _setup(self) -> None:
        c = self.config
        session = self.session
        session.check_layout()  # before anything is written: no file of it may lead elsewhere
        corpus = self._corpus or load_corpus(CorpusSpec(self._corpus_source(), c.encoding, c.keep_crlf), progress=None)
        vocab = session.read_vocab(fallback=corpus.vocab, repair=True)  # we hold the lock
        if corpus.vocab != vocab:
            missing = sorted(set(corpus.vocab) - set(vocab))
            raise WorkbenchError(
                f"the corpus {c.corpus!r} no longer matches the vocabulary of session {session.name!r}"
                + (f" (new characters {''.join(missing)!r})" if missing else "")
                + "; restore the original text or start a new session"
            )
        check_fits(len(corpus), c.val_frac, c.batch_size, c.seq_length)
        if c.threads:
            torch.set_num_threads(c.threads)
        self.device = resolve_device(c.device)
        if self.device.type == "cuda":
            # TF32 matmuls: ~8x the fp32 rate on Ampere and later, ample precision for this.
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.autocast_dtype = resolve_precision(c.precision, self.device, c.hidden)
        self.precision = precision_name(self.autocast_dtype)
        slow = precision_warning(c.precision, self.device)
        if slow:
            self._pending_warnings.append(slow)
        self.vocab = vocab
        train_ids, val_ids = corpus.split(c.val_frac)
        self.train_grid = WindowGrid(as_tensor_ids(train_ids, self.device), c.batch_size, c.seq_length)
        self.val_grid = WindowGrid(as_tensor_ids(val_ids, self.device), c.batch_size, c.seq_length)
        self.steps_per_epoch = len(self.train_grid)

        self._seed_everything(c.seed)
        self.model = CharRNN(ModelConfig(len(vocab), c.cell, c.hidden, c.layers, c.dropout)).to(self.device)
        opt_cls = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
        self.optimizer = opt_cls(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        self.base_lr = c.lr
        self.sample_settings: SampleSettings = replace(c.sample)
        self.hidden = self.model.init_hidden(c.batch_size)
        self.first_loss: float | None = None
        self.evals_since_best = 0
        self.checkpoint_step: int | None = None
        self._urgent_stop = False
        # We hold the lock, so any temporary file here is a dead writer's half checkpoint.
        for stale in session.checkpoints_folder().glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        resumed = session.has_checkpoint()
        if resumed:
            self._restore()
        self.session.truncate_logs_after(self.step)
        self._metrics = JsonlWriter(session.metrics_path)
        self._samples = JsonlWriter(session.samples_path)
        self._events = JsonlWriter(session.events_path)
        self.params = self.model.num_parameters()
        self.total_steps = target_steps(self.config, self.steps_per_epoch)
        self.state = "running"
        self.session.write_status(
            state="running", pid=os.getpid(), step=self.step, epoch=self.epoch, device=f"{self.device} {self.precision}",
            params=self.params, best_val_loss=self.best_val_loss, error=None, started=time.time(),
            total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch,
        )
        self._emit(ev.Started(step=self.step, epoch=self.epoch, device=f"{describe_device(self.device)}, {self.precision}", params=self.params,
                              resumed=resumed, total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch))

    def _corpus_source(self) -> str:
        """The corpus to load: a name, or a file that must still be where the session says.
        Sessions made before file paths were stored absolute may hold a relative one: it is
        found from where the session was made (corpus.json's origin) if not from here."""
        source = self.config.corpus
        if catalog.entry(source) is not None:
            return source
        path = Path(source).expanduser()
        if path.exists():
            return source
        origin = self.session.read_corpus_info().get("origin")
        if not path.is_absolute() and origin and Path(origin).is_file():
            return origin
        raise WorkbenchError(f"session {self.session.name!r} trains on {origin or source}, which is no longer there; "
                             "put the text back there to continue it (or start a new session)")

    def _seed_everything(self, seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)  # seeds every CUDA device too

    # -- checkpoints ----------------------------------------------------------------------
    def _checkpoint_payload(self, val_loss: float | None) -> dict[str, Any]:
        rng = {
            "torch": torch.get_rng_state(),
            "python": random.getstate(),
            "numpy": [v.tolist() if isinstance(v, np.ndarray) else v for v in np.random.get_state()],
        }
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return {
            "model_config": {"vocab_size": len(self.vocab), "cell": self.config.cell, "hidden": self.config.hidden,
                             "layers": self.config.layers, "dropout": self.config.dropout},
            "vocab": list(self.vocab),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "position": self.position,
            "hidden": [h.detach().cpu() for h in self.hidden],
            "rng": rng,
            "best_val_loss": self.best_val_loss,
            "val_loss": val_loss,
            "first_loss": self.first_loss,
            "evals_since_best": self.evals_since_best,
            "base_lr": self.base_lr,
            "sample_settings": self.sample_settings.__dict__.copy(),
            "train_config": self.config.to_dict(),
            "time": time.time(),
        }

    def _save_checkpoint(self, reason: str, *, urgent: bool = False) -> None:
        """Full validation, then latest (+ best, + a kept step file) atomically. Urgent (a
        signal: the process may be killed within seconds, and a full validation of a large
        corpus takes longer): the state is written first, validated after, and written again
        with the result; a kill during the validation still leaves this step's checkpoint."""
        self._report_steps()  # steps since the last report belong to this checkpoint's record
        if urgent:
            if not all(bool(torch.isfinite(p).all()) for p in self.model.parameters()):
                raise TrainingFailed(f"the weights hold non-finite values at step {self.step}; not saving this model")
            self._write_checkpoint(self._checkpoint_payload(None), best=False)
        val = validation_loss(self.model, self.val_grid, autocast_dtype=self.autocast_dtype)
        if not math.isfinite(val):
            saved = " (the checkpoint written on the signal holds it)" if urgent else ""
            raise TrainingFailed(f"validation loss is {val} at step {self.step}; not saving this model{saved}")
        best = self.best_val_loss is None or val < self.best_val_loss
        if best:
            self.best_val_loss = val
            self.evals_since_best = 0
        else:
            self.evals_since_best += 1
        self._merge_record(val_loss=val, val_full=True)
        self._emit(ev.Evaluated(step=self.step, val_loss=val, full=True, best=best))
        self._write_checkpoint(self._checkpoint_payload(val), best=best)
        self._emit(ev.CheckpointSaved(step=self.step, path=str(self.session.checkpoints_dir / "latest.pt"),
                                      reason=reason, best=best))

    def _write_checkpoint(self, payload: dict[str, Any], *, best: bool) -> None:
        if self.config.keep_last > 0:
            step_path = self.session.checkpoint_path(self.step)
            save_checkpoint(step_path, payload)
            link_atomically(step_path, self.session.checkpoint_path("latest"))
            self.session.checkpoints_folder()  # deletes only in the session's own folder
            for _, old in self.session.step_checkpoints()[: -self.config.keep_last]:
                old.unlink(missing_ok=True)
        else:
            save_checkpoint(self.session.checkpoint_path("latest"), payload)
        if best:
            link_atomically(self.session.checkpoint_path("latest"), self.session.checkpoint_path("best"))
        self.checkpoint_step = self.step
        self.session.write_status(step=self.step, epoch=self.epoch, best_val_loss=self.best_val_loss,
                                  checkpoint_step=self.step)

    def _restore(self) -> None:
        try:
            data, _, errors = load_first_good(self.session.restore_candidates())
        except CheckpointError as exc:
            raise WorkbenchError(f"no usable checkpoint in session {self.session.name!r}: {exc}") from None
        for message in errors:
            self._pending_warnings.append(f"{message}; resumed from an older checkpoint (step {data['step']})")
        if data["vocab"] != self.vocab:
            raise WorkbenchError(f"checkpoint vocabulary differs from session {self.session.name!r}'s vocab.json")
        self.model.load_state_dict(data["model"])
        self.optimizer.load_state_dict(data["optimizer"])
        self.step, self.epoch, self.position = int(data["step"]), int(data["epoch"]), int(data["position"])
        # fp32 on the way in: a bf16 session's carried state converts exactly, and a session
        # resumed under another precision (another machine) still gets a dtype it accepts.
        self.hidden = tuple(h.to(self.device, torch.float32) for h in data["hidden"])
        self.best_val_loss = data["best_val_loss"]
        self.first_loss = data["first_loss"]
        self.evals_since_best = int(data["evals_since_best"])
        self.base_lr = float(data["base_lr"])
        self.sample_settings = SampleSettings(**data["sample_settings"])
        self.checkpoint_step = self.step
        rng = data["rng"]
        torch.set_rng_state(rng["torch"])
        random.setstate((rng["python"][0], tuple(rng["python"][1]), rng["python"][2]))
        np_state = rng["numpy"]
        np.random.set_state((np_state[0], np.asarray(np_state[1], dtype=np.uint32), *np_state[2:]))
        if "cuda" in rng and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(rng["cuda"])

    # -- the loop -------------------------------------------------------------------------
    def _loop(self) -> ev.Event:
        c = self.config
        for message in self._pending_warnings:
            self._emit(ev.Warning(step=self.step, message=message))
        self._pending_warnings = []
        model, optimizer = self.model, self.optimizer
        params = [p for p in model.parameters()]
        model.train()
        device = self.device
        self._loss_sum = torch.zeros((), device=device)
        self._norm_sum = torch.zeros((), device=device)
        self._since_log = 0
        self._train_seconds = 0.0  # time in training steps since the last log (no evals, no pauses)
        self._recent_rate: float | None = None
        self._lr = self.base_lr
        run_seconds = 0.0  # time running in this run (for --minutes), pauses excluded
        tick = time.perf_counter()

        while True:
            stop = self._handle_commands()
            if stop is None and self.state == "paused":
                run_seconds += time.perf_counter() - tick
                stop = self._wait_while_paused()
                tick = time.perf_counter()
            if stop is not None:
                return self._finish(stop, "stopped")
            now = time.perf_counter()
            run_seconds += now - tick
            tick = now
            self._run_seconds = run_seconds
            if self.total_steps is not None and self.step >= self.total_steps:
                return self._finish("budget", "finished")
            if c.max_minutes is not None and run_seconds >= c.max_minutes * 60:
                return self._finish("time budget", "finished")

            self._lr = lr = learning_rate(
                c.schedule, self.base_lr, self.step, self.epoch, total_steps=self.total_steps,
                warmup_steps=c.warmup_steps, min_lr_frac=c.min_lr_frac, decay_rate=c.decay_rate,
                decay_after=c.decay_after)
            for group in optimizer.param_groups:
                group["lr"] = lr

            self._flush_record()
            t0 = time.perf_counter()
            x, y = self.train_grid.window(self.position)
            hidden = tuple(h.detach() for h in self.hidden)
            with torch.autocast(device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                logits, hidden = model(x, hidden)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1).long())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if c.clip > 0:
                norm = torch.nn.utils.clip_grad_norm_(params, c.clip)
            else:
                # clip_grad_norm_ with an infinite limit measures without clipping (any torch >= 2.4)
                norm = torch.nn.utils.clip_grad_norm_(params, float("inf"))
            optimizer.step()
            self.hidden = hidden
            self._loss_sum += loss.detach()  # stays on the device: no sync per step
            self._norm_sum += norm.detach()
            self._since_log += 1
            self.step += 1
            self.position += 1
            if self.position >= self.steps_per_epoch:
                self.position = 0
                self.epoch += 1
                # The notebook starts every epoch from a zero hidden state.
                self.hidden = model.init_hidden(c.batch_size)
            self._train_seconds += time.perf_counter() - t0

            eval_due = c.eval_every > 0 and self.step % c.eval_every == 0
            checkpoint_due = c.checkpoint_every > 0 and self.step % c.checkpoint_every == 0
            if self._since_log >= c.log_every or eval_due or checkpoint_due:
                self._report_steps()
                if eval_due and not checkpoint_due:
                    val = validation_loss(model, self.val_grid, c.eval_batches, self.autocast_dtype)
                    self._merge_record(val_loss=val, val_full=False)
                    self._emit(ev.Evaluated(step=self.step, val_loss=val, full=False, best=False))
            if checkpoint_due:
                self._save_checkpoint("periodic")
                if c.patience is not None and self.evals_since_best >= c.patience:
                    return self._finish("early stopping", "finished", saved=True)
            if c.sample_every > 0 and self.step % c.sample_every == 0:
                self._sample()

    def _report_steps(self) -> None:
        """Read the accumulated loss from the device (the one sync of a log interval),
        check the guards, record and announce the interval."""
        if self._since_log == 0:
            return
        chars_per_step = self.config.batch_size * self.config.seq_length
        mean_loss = float((self._loss_sum / self._since_log).item())
        mean_norm = float((self._norm_sum / self._since_log).item())
        rate = self._since_log * chars_per_step / max(self._train_seconds, 1e-9)
        self._recent_rate = rate if self._recent_rate is None else 0.7 * self._recent_rate + 0.3 * rate
        self._guard(mean_loss)
        self._loss_sum.zero_()
        self._norm_sum.zero_()
        self._since_log, self._train_seconds = 0, 0.0
        eta = self._eta(self._recent_rate, chars_per_step, getattr(self, "_run_seconds", 0.0))
        self._merge_record(train_loss=mean_loss, lr=self._lr, grad_norm=mean_norm, chars_per_sec=rate)
        self._emit(ev.StepsLogged(step=self.step, epoch=self.epoch, epoch_progress=self.position / self.steps_per_epoch,
                                  train_loss=mean_loss, lr=self._lr, grad_norm=mean_norm, chars_per_sec=rate,
                                  eta_seconds=eta))
        self.session.write_status(step=self.step, epoch=self.epoch, chars_per_sec=rate, lr=self._lr,
                                  train_loss=mean_loss, eta_seconds=eta)

    def _eta(self, rate: float | None, chars_per_step: int, run_seconds: float) -> float | None:
        c = self.config
        candidates = []
        if self.total_steps is not None and rate:
            candidates.append((self.total_steps - self.step) * chars_per_step / rate)
        if c.max_minutes is not None:
            candidates.append(max(0.0, c.max_minutes * 60 - run_seconds))
        return min(candidates) if candidates else None

    def _guard(self, loss: float) -> None:
        where = f"at step {self.step}"
        if not math.isfinite(loss):
            raise TrainingFailed(f"training loss became {loss} {where}; stopped, {self._what_is_kept()}; "
                                 "try a lower --lr or --clip")
        if self.first_loss is None:
            self.first_loss = loss
        # A fresh model starts near a uniform guess's loss (ln V). A first interval far above
        # that has already blown up (a wild --lr) and is no reference: the guess is used instead.
        uniform = math.log(len(self.vocab))
        reference, what = ((self.first_loss, "the first logged loss") if self.first_loss <= 1.5 * uniform
                           else (uniform, "the loss of a uniform guess"))
        if self.config.explosion_guard and loss > 3 * reference:
            raise TrainingFailed(
                f"training loss {loss:.3f} {where} exploded past 3x {what} ({reference:.3f}); "
                f"stopped, {self._what_is_kept()}; try a lower --lr"
            )

    # -- commands -------------------------------------------------------------------------
    def _handle_commands(self) -> str | None:
        """Apply queued commands; returns a stop reason when one asked to stop."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return None
            reason = self._apply(command)
            if reason is not None:
                return reason

    def _wait_while_paused(self) -> str | None:
        while self.state == "paused":
            try:
                command = self._commands.get(timeout=0.25)
            except queue.Empty:
                continue
            reason = self._apply(command)
            if reason is not None:
                return reason
        return None

    def _apply(self, command: cmd.Command) -> str | None:
        if isinstance(command, cmd.Stop):
            self._urgent_stop = command.urgent
            return command.reason
        if isinstance(command, cmd.Pause):
            if self.state != "paused":
                self.state = "paused"
                self._flush_record()  # viewers see the last interval while we wait
                self.session.write_status(state="paused", step=self.step)
                self._emit(ev.Paused(step=self.step))
        elif isinstance(command, cmd.Resume):
            if self.state == "paused":
                self.state = "running"
                self.session.write_status(state="running", step=self.step)
                self._emit(ev.Resumed(step=self.step))
        elif isinstance(command, cmd.CheckpointNow):
            self._save_checkpoint("requested")
        elif isinstance(command, cmd.SampleNow):
            self._sample()
        elif isinstance(command, cmd.SetLearningRate):
            if not (command.lr > 0 and math.isfinite(command.lr)):
                self._emit(ev.Warning(step=self.step, message=f"ignored learning rate {command.lr}: must be positive"))
            else:
                self.base_lr = float(command.lr)
                self._emit(ev.SettingChanged(step=self.step, name="lr", value=self.base_lr))
        elif isinstance(command, cmd.SetSampleSettings):
            changes = {k: v for k, v in command.to_dict().items() if k != "kind" and v is not None}
            candidate = replace(self.sample_settings, **changes)
            try:
                candidate.validate()
                encode_text(candidate.prime, self.vocab)
            except WorkbenchError as exc:
                self._emit(ev.Warning(step=self.step, message=f"ignored sample settings: {exc}"))
            else:
                self.sample_settings = candidate
                self._emit(ev.SettingChanged(step=self.step, name="sample", value=candidate.__dict__.copy()))
        return None

    # -- outputs --------------------------------------------------------------------------
    def _sample(self) -> None:
        s = self.sample_settings
        # Its own generator, seeded from (seed, step): drawing a sample never moves the
        # training RNG, so a run with extra samples trains exactly like one without.
        text = generate(self.model, self.vocab, s, seed=self.config.seed * 1_000_003 + self.step)[0]
        record = {"step": self.step, "time": time.time(), "text": text, "prime": s.prime,
                  "temperature": s.temperature, "top_k": s.top_k, "top_p": s.top_p, "length": s.length}
        self._samples.write(record)
        self._emit(ev.SampleGenerated(step=self.step, text=text, prime=s.prime, temperature=s.temperature,
                                      top_k=s.top_k, top_p=s.top_p))

    def _merge_record(self, **values: Any) -> None:
        """Add values to the metrics record of the current step. One record per step: it is
        written when the next step starts (or the run ends), so a validation pass that
        follows the step's log lands in the same line."""
        record = getattr(self, "_record", None)
        if record is not None and record["step"] != self.step:
            self._flush_record()
            record = None
        if record is None:
            record = self._record = {"step": self.step,
                                     "epoch": round(self.epoch + self.position / self.steps_per_epoch, 6)}
        record.update(values)

    def _flush_record(self) -> None:
        record = getattr(self, "_record", None)
        if record is not None:
            # Six significant digits are plenty for a chart and make the history much
            # cheaper to parse for a viewer attaching to a long run.
            for key in ("train_loss", "val_loss", "grad_norm", "lr"):
                if key in record:
                    record[key] = float(f"{record[key]:.6g}")
            if "chars_per_sec" in record:
                record["chars_per_sec"] = round(record["chars_per_sec"])
            record["time"] = round(time.time(), 3)
            self._metrics.write(record)
            self._record = None

    def _emit(self, event: ev.Event) -> None:
        self.last_event = event
        if not isinstance(event, (ev.StepsLogged, ev.Evaluated, ev.SampleGenerated)) and hasattr(self, "_events"):
            self._events.write(event.to_dict())
        self._bus.emit(event)

    def _finish(self, reason: str, state: str, saved: bool = False) -> ev.Event:
        if not saved and self.step != self.checkpoint_step:
            self._save_checkpoint(reason, urgent=self._urgent_stop)
        self._report_steps()
        self._flush_record()
        self.state = state
        self.session.write_status(state=state, step=self.step, epoch=self.epoch, best_val_loss=self.best_val_loss,
                                  finished=time.time(), reason=reason, pid=None)
        event = ev.Finished(step=self.step, reason=reason, state=state, best_val_loss=self.best_val_loss)
        self._emit(event)
        return event

    def _abandon(self) -> None:
        self.state = "stopped"
        with contextlib.suppress(OSError):
            self.session.write_status(state="stopped", step=self.checkpoint_step or 0, reason="aborted", pid=None,
                                      finished=time.time(), error=None)

    def _what_is_kept(self) -> str:
        if self.checkpoint_step is None:
            return "no checkpoint had been written yet"
        return f"the last good checkpoint (step {self.checkpoint_step}) is kept"

    def _describe_crash(self, exc: Exception) -> str:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return (f"the disk holding {self.session.root} is full (at step {self.step}); free some space, "
                    f"then `workbench resume {self.session.name}`")
        return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]

    def _fail(self, message: str) -> ev.Event:
        self.state = "failed"
        with contextlib.suppress(OSError):  # a full disk: viewers see the lock released and report a failure
            if hasattr(self, "_metrics"):
                self._flush_record()
            self.session.write_status(state="failed", step=self.checkpoint_step or 0, error=message, pid=None,
                                      finished=time.time())
        event = ev.Failed(step=self.step, error=message)
        self._emit(event)
        return event

    def _close_writers(self) -> None:
        for name in ("_metrics", "_samples", "_events"):
            writer = getattr(self, name, None)
            if writer is not None:
                writer.close()
