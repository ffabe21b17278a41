"""The training screen: one session, live. It follows the session folder (a thread polls it
and posts one SessionUpdate per poll) and steers the trainer process over its control socket
(each command in a thread worker: a socket round trip never runs on the event loop)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.worker import get_current_worker

from workbench.engine.control import commands as cmd
from workbench.engine.train.budget import given, set_budget, spent, steps_done
from workbench.engine.config import SampleSettings
from workbench.engine.errors import WorkbenchError
from workbench.engine.sessions.follow import SessionFollower
from workbench.engine.sessions.session import ACTIVE_STATES, Session
from workbench.tui.messages import CommandSent, SessionUpdate, TrainerFailed, TrainerStarted
from workbench.tui.modals.prompt import BudgetModal, LearningRateModal, SampleSettingsModal
from workbench.tui.modals.quit import QuitModal
from workbench.tui.screens.base import BaseScreen
from workbench.tui.text import one_line
from workbench.tui.widgets.event_log import EventLog
from workbench.tui.widgets.key_footer import KeyFooter
from workbench.tui.widgets.loss_chart import LossChart
from workbench.tui.widgets.sample_panel import SamplePanel
from workbench.tui.widgets.status_bar import StatusBar

POLL_SECONDS = 0.5  # how often the session folder is read while training (commands answer at once)
IDLE_POLL_SECONDS = 1.0  # ... and while nothing trains it (someone may resume it elsewhere)
CONTROL_ACTIONS = ("pause", "unpause", "sample", "checkpoint", "set_lr", "sample_settings", "detach")
TRAINING_ABOUT = (
    "The bar is the run's progress toward its budget (steps, epochs or minutes: whichever ends it first); "
    "the epoch is a figure of its own (1.37: a third of the way into the second epoch).\n\n"
    "chars/s and the ETA come from the median of the last few log intervals, so one slow interval of a busy "
    "machine moves them little. \"no step for N s\" means the trainer has not reported for several times its "
    "usual interval.\n\n"
    "\"best full val\" is the best full validation pass (at each checkpoint, over the whole validation text). "
    "The chart's \"val est.\" line is the cheap estimate every --eval-every steps on a few fixed batches: "
    "noisier, it can sit above or below the full figure. Its \"val full\" points are the full passes.")


class TrainingScreen(BaseScreen):
    # Most important first: a narrow footer drops the last ones (`?` lists them all, and the
    # palette names them by their tooltips).
    BINDINGS = [
        Binding("r", "resume_training", "Train", tooltip="Resume training this session", id="train.resume"),
        Binding("p", "pause", "Pause", tooltip="Pause training (after its current step)", id="train.pause"),
        Binding("p", "unpause", "Resume", tooltip="Resume the paused training", id="train.unpause"),
        Binding("s", "sample", "Sample", tooltip="Draw a sample now", id="train.sample"),
        Binding("c", "checkpoint", "Save", tooltip="Save a checkpoint now", id="train.checkpoint"),
        Binding("g", "studio", "Studio", tooltip="Sample studio: generate, probe and score from a checkpoint",
                id="train.studio"),
        Binding("l", "set_lr", "LR", tooltip="Set the learning rate", id="train.lr"),
        Binding("t", "sample_settings", "Sampling",
                tooltip="Sample settings: temperature, top-k, top-p, length, prime", id="train.sample_settings"),
        Binding("d", "detach", "Detach", tooltip="Detach: leave this screen, training goes on", id="train.detach"),
        Binding("escape", "back", "Back", tooltip="Back to the session list (training goes on)", id="train.back"),
        Binding("q", "quit", "Quit", tooltip="Quit the app (asks whether to stop the training)", id="train.quit"),
        Binding("u", "toggle_units", "Units", tooltip="Show loss in nats or bits per character", id="train.units"),
        Binding("m", "smoothing", "Smooth", tooltip="Smooth the training loss curve (off, 0.6, 0.9)",
                id="train.smoothing"),
        Binding("e", "toggle_events", "Events", tooltip="Show or hide the event log", id="train.events"),
    ]
    KEYS_TITLE = "Keys of the training screen"
    ABOUT = TRAINING_ABOUT
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(self, session: Session, sessions_dir: Path, *, start: bool = False, steps: int | None = None,
                 epochs: float | None = None, minutes: float | None = None, detach_quits: bool = False) -> None:
        super().__init__()
        self.session = session
        self.sessions_dir = Path(sessions_dir)
        self.start = start
        self.detach_quits = detach_quits  # the app was started on this session: d leaves the app
        self.budget = {"steps": steps, "epochs": epochs, "minutes": minutes}
        self.status: dict[str, Any] = {}
        self.loaded = False  # the first poll (the whole history) has arrived
        self.exit_when_stopped = False
        self.pid: int | None = None
        self.base_lr: float | None = None
        self.sample_settings: SampleSettings | None = None

    # -- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield StatusBar(self.session.name, id="status")
        with Horizontal(id="top"):
            yield LossChart(id="chart")
            yield EventLog(id="events")
        yield SamplePanel(id="samples")
        yield KeyFooter()

    def on_screen_resume(self) -> None:
        # Figures that arrived while a dialog or the studio covered us (see LossChart).
        self.query_one(LossChart).redraw_if_dirty()
        self.query_one(StatusBar).redraw_if_dirty()

    def on_mount(self) -> None:
        self.sub_title = self.session.name
        self.follow()
        if self.start:
            self.action_resume_training()

    @property
    def state(self) -> str:
        return self.query_one(StatusBar).state

    @property
    def active(self) -> bool:
        return self.status.get("state") in ACTIVE_STATES

    # -- following the session folder --------------------------------------------------
    @work(thread=True, exclusive=True, group="follow", exit_on_error=False, description="following the session")
    def follow(self) -> None:
        worker = get_current_worker()
        follower = SessionFollower(self.session)
        first = True
        while not worker.is_cancelled:
            try:
                update = follower.poll()
            except OSError:  # a file caught mid-replacement, a full disk: try again next tick
                worker.cancelled_event.wait(POLL_SECONDS)
                continue
            config, config_error = None, None
            if first or any(e.get("kind") == "started" for e in update.events):  # a run may bring a new budget
                try:
                    config = self.session.read_config()
                except WorkbenchError as exc:
                    config_error = str(exc)
            first = False
            if (update.reset or update.metrics or update.samples or update.events or update.status is not None
                    or config is not None or config_error):
                self.post_message(SessionUpdate(list(update.metrics), list(update.samples), list(update.events),
                                                update.status, update.reset, config, config_error))
            state = (update.status or self.status or {}).get("state")
            # Wakes at once when the worker is cancelled (the screen closed, the app exits).
            worker.cancelled_event.wait(POLL_SECONDS if state in ACTIVE_STATES or self.start else IDLE_POLL_SECONDS)

    def on_session_update(self, update: SessionUpdate) -> None:
        chart, samples = self.query_one(LossChart), self.query_one(SamplePanel)
        log, bar = self.query_one(EventLog), self.query_one(StatusBar)
        if update.config is not None:
            bar.config = update.config
            if self.base_lr is None or self.sample_settings is None:
                self.base_lr, self.sample_settings = update.config.lr, update.config.sample
        if update.config_error:
            log.note(update.config_error, time.time(), "error")
        if update.reset:
            chart.clear_history()
            samples.clear_samples()
            log.clear_log()
        chart.add_records(update.metrics)
        samples.add_samples(update.samples)
        log.add_batch(update.events, update.metrics)
        for event in update.events:
            if event.get("kind") == "setting" and event.get("name") == "lr":
                self.base_lr = event.get("value")
            elif event.get("kind") == "setting" and event.get("name") == "sample" and isinstance(event.get("value"), dict):
                self.sample_settings = _settings(event["value"], self.sample_settings)
        was = self.status.get("state")
        if update.status is not None:
            self.status = update.status
        bar.update_status(update.status, update.metrics)
        now = self.status.get("state")
        if now != was:
            self._pending_done()  # the trainer has answered a pause or resume, if one was sent
            if now in ACTIVE_STATES:
                self.start = False  # the trainer is up: from here on its status speaks
                bar.state_override = None if bar.state_override == "starting" else bar.state_override
            if now == "failed" and self.loaded and self.status.get("error"):
                self.notify(one_line(self.status["error"], 300), title="Training failed", severity="error",
                            timeout=15, markup=False)
            self.refresh_bindings()
        self.loaded = True
        if self.exit_when_stopped and now not in ACTIVE_STATES:
            self.exit_when_stopped = False
            self.app.exit(message=f"{self.session.name}: {now} at step {self.status.get('step') or 0:,}")

    # -- the trainer process ----------------------------------------------------------
    @work(thread=True, exclusive=True, group="launch", exit_on_error=False, description="starting the trainer")
    def launch(self) -> None:
        from workbench.engine.processes.launcher import start_trainer

        try:
            set_budget(self.session, **self.budget)
            pid = start_trainer(self.session, self.sessions_dir)
        except WorkbenchError as exc:
            self.post_message(TrainerFailed(str(exc)))
        else:
            self.post_message(TrainerStarted(pid))

    def on_trainer_started(self, message: TrainerStarted) -> None:
        self.pid = message.pid
        self.start = False  # from here on the trainer's status speaks (it may have finished already)
        bar = self.query_one(StatusBar)
        bar.state_override = None
        bar.redraw()
        self.refresh_bindings()
        self.query_one(EventLog).note(f"trainer process {message.pid} started", time.time())

    def on_trainer_failed(self, message: TrainerFailed) -> None:
        self.start = False
        bar = self.query_one(StatusBar)
        bar.state_override = None
        bar.launch_error = message.error
        bar.redraw()
        self.query_one(EventLog).note(message.error, time.time(), "error")
        self.notify(one_line(message.error, 300), title="The trainer did not start", severity="error", timeout=15,
                    markup=False)
        self.refresh_bindings()

    @work(thread=True, group="control", exit_on_error=False, description="sending a command to the trainer")
    def send(self, command: cmd.Command, what: str) -> None:
        from workbench.engine.control.client import send_command

        try:
            reply = send_command(self.session, command)  # a WorkbenchError is reported by BaseScreen
            if not reply.get("ok"):
                raise WorkbenchError(f"the trainer refused {what}: {reply.get('error', 'no reason given')}")
        except WorkbenchError:
            if isinstance(command, (cmd.Pause, cmd.Resume)):
                self.app.call_from_thread(self._pending_done)  # show the trainer's real state again
            raise
        self.post_message(CommandSent(what, reply))

    def on_command_sent(self, message: CommandSent) -> None:
        self.query_one(EventLog).note(f"sent: {message.what}", time.time())

    @work(thread=True, exclusive=True, group="stop", exit_on_error=False, description="stopping the trainer")
    def stop_trainer(self) -> None:
        from workbench.engine.control.client import send_command

        try:
            send_command(self.session, cmd.Stop(reason="stopped"))
        except WorkbenchError as exc:
            # Nothing to stop (it ended meanwhile) or it cannot be reached: say so and leave.
            self.app.call_from_thread(self.app.exit, message=f"{self.session.name}: {exc}")

    # -- bindings ----------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CONTROL_ACTIONS:  # shown (dimmed while stopping) only while a trainer runs
            if not self.active:
                return False
            if action in ("pause", "unpause"):  # one key: the footer offers what it does now
                paused = self.query_one(StatusBar).state in ("paused", "pausing")
                if paused != (action == "unpause"):
                    return False
            return None if self.exit_when_stopped else True
        if action == "resume_training":
            return not self.active and not self.start and self.status.get("state") != "broken"
        return True

    def action_pause(self) -> None:
        # The trainer answers after its current step (and the status after a poll): say at once
        # that the key was taken, as PAUSING / RESUMING until the status catches up.
        bar = self.query_one(StatusBar)
        resume = bar.state in ("paused", "pausing")
        bar.state_override = "resuming" if resume else "pausing"
        bar.redraw()
        self.refresh_bindings()
        if resume:
            self.send(cmd.Resume(), "resume")
        else:
            self.send(cmd.Pause(), "pause")

    def action_unpause(self) -> None:
        self.action_pause()  # the same key: it resumes a paused run

    def _pending_done(self) -> None:
        bar = self.query_one(StatusBar)
        if bar.state_override in ("pausing", "resuming"):
            bar.state_override = None
            bar.redraw()
            self.refresh_bindings()

    def action_sample(self) -> None:
        self.send(cmd.SampleNow(), "sample now")

    def action_checkpoint(self) -> None:
        self.send(cmd.CheckpointNow(), "checkpoint now")

    def action_set_lr(self) -> None:
        def chosen(lr: float | None) -> None:
            if lr is not None:
                self.send(cmd.SetLearningRate(lr=lr), f"learning rate {lr:g}")

        self.app.push_screen(LearningRateModal(self.base_lr), chosen)

    def action_sample_settings(self) -> None:
        def chosen(changes: dict[str, Any] | None) -> None:
            if changes:
                what = ", ".join(f"{k} {one_line(repr(v), 30)}" for k, v in changes.items())
                self.send(cmd.SetSampleSettings(**changes), f"sample settings: {what}")

        self.app.push_screen(SampleSettingsModal(self.sample_settings or SampleSettings()), chosen)

    def action_resume_training(self) -> None:
        """Start a trainer; first ask for a new step target when the budget is spent."""
        if self.active:
            return
        status = self.session.live_status()
        step = steps_done(status)
        if not given(**self.budget) and self._budget_spent(status):
            def chosen(target: int | None) -> None:
                if target is not None:
                    self.budget = {"steps": target, "epochs": None, "minutes": None}
                    self._start_now()
                else:
                    self.start = False
                    self.refresh_bindings()

            self.app.push_screen(BudgetModal(step, step * 2 if step else 1000), chosen)
            return
        self._start_now()

    def _budget_spent(self, status: dict[str, Any]) -> bool:
        """True when a resume without a new budget would end at once (as `workbench resume` sees it)."""
        try:
            return spent(self.session.read_config(), status) is not None
        except WorkbenchError:
            return False

    def _start_now(self) -> None:
        self.start = True
        bar = self.query_one(StatusBar)
        bar.state_override, bar.launch_error = "starting", None
        bar.redraw()
        self.refresh_bindings()
        self.launch()

    def action_toggle_units(self) -> None:
        chart, bar = self.query_one(LossChart), self.query_one(StatusBar)
        unit = "bits" if chart.unit == "nats" else "nats"
        chart.set_unit(unit)
        bar.unit = unit
        bar.redraw()

    def action_smoothing(self) -> None:
        weight = self.query_one(LossChart).cycle_smoothing()
        self.notify(f"Smoothing {weight:g}" if weight else "Smoothing off", timeout=2)

    def action_toggle_events(self) -> None:
        shown = self.query_one(EventLog).display
        self.set_class(shown, "-events-off")
        self.set_class(not shown, "-events-on")

    def action_studio(self) -> None:
        if not self.session.has_checkpoint():
            self.notify("No checkpoint yet: the studio samples from a saved one (c saves one now).", severity="warning")
            return
        self.app.open_studio(self.session)  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.app.show_home()  # type: ignore[attr-defined]

    def _background_note(self) -> str:
        return (f"{self.session.name} keeps training in the background (process {self.status.get('pid')}); "
                f"`workbench attach {self.session.name}` watches it again")

    def action_detach(self) -> None:
        """Leave the trainer running: back to the session list when the user came from it, out
        of the app when the app was started on this session."""
        if self.detach_quits:
            self.app.exit(message=self._background_note())
            return
        self.app.show_home()  # type: ignore[attr-defined]
        self.app.notify(f"{self._background_note()} (or enter on it here).", title="Detached", timeout=12,
                        markup=False)

    def action_quit(self) -> None:
        if not self.active:
            self.app.exit()
            return

        def chosen(choice: str | None) -> None:
            if choice == "keep":
                self.app.exit(message=self._background_note())
            elif choice == "stop":
                self.exit_when_stopped = True
                bar = self.query_one(StatusBar)
                bar.state_override = "stopping"
                bar.redraw()
                self.refresh_bindings()
                self.stop_trainer()

        self.app.push_screen(QuitModal(self.session.name), chosen)


def _settings(value: dict[str, Any], current: SampleSettings | None) -> SampleSettings:
    known = {k: v for k, v in value.items() if k in SampleSettings.__dataclass_fields__}
    return replace(current or SampleSettings(), **known)
