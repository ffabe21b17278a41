"""The processes of one run: this process alone, or one rank of a torch.distributed group that
torchrun started (DDP, as nanoGPT does it).

    world = join_world()               # torchrun's environment, or a world of one
    world.broadcast(obj)               # rank 0's object, on every rank
    world.mean_(tensor)                # in place: the mean over the ranks

Rank 0 owns the session (its lock, files, checkpoints and control socket); every collective
here is entered by all ranks at the same point of the same step, which the trainer guarantees
by deciding everything that leads to one from the step number or from what rank 0 broadcast.
Control traffic (commands, stops, objects) goes through a gloo group on the CPU, so checking
for a command never waits for a GPU. A world of one does no collective at all.
"""
from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from workbench.engine.control import commands as cmd
from workbench.engine.control.bus import Inbox
from workbench.engine.errors import WorkbenchError
from workbench.engine.files import write_json_atomic
from workbench.engine.machine.torchrun import launched_by_torchrun

DEFAULT_TIMEOUT = 120.0
"""Seconds a rank waits for the others in one collective before it gives up on them."""
CONTROL_SECONDS = 0.1
"""How often (in training time) the ranks check together for commands and stops."""
ERROR_KEY = "workbench/error/"


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    backend: str | None = None
    """None for a world of one; else what the group runs on ("gloo", "cpu:gloo,cuda:nccl")."""
    control: Any = None
    """The CPU (gloo) group for control traffic."""
    restarts: int = 0
    """How many times torchrun has restarted this group."""

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None

    def device_for(self, device: torch.device) -> torch.device:
        """This rank's device: cuda:LOCAL_RANK when the run is on CUDA, else `device`."""
        if self.distributed and device.type == "cuda":
            return torch.device("cuda", self.local_rank)
        return device

    def shape(self, device: torch.device) -> str:
        """'4 x cuda, nccl' or '2 x cpu, gloo'; '' for a world of one."""
        if not self.distributed:
            return ""
        return f"{self.size} x {device.type}, {'nccl' if device.type == 'cuda' else 'gloo'}"

    # -- collectives (no-ops in a world of one) ----------------------------------------
    def broadcast(self, obj: Any) -> Any:
        if not self.distributed:
            return obj
        box = [obj if self.is_main else None]
        dist.broadcast_object_list(box, src=0, group=self.control)
        return box[0]

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's `obj`, in rank order (on every rank)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.size
        dist.all_gather_object(out, obj, group=self.control)
        return out

    def mean_(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
            tensor /= self.size
        return tensor

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def gather_rows(self, parts: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """Each (layers, rows, hidden) tensor of every rank, joined along the rows, in rank order."""
        if not self.distributed:
            return parts
        joined = []
        for part in parts:
            local = part.detach().to("cpu", torch.float32).contiguous()
            pieces = [torch.empty_like(local) for _ in range(self.size)]
            dist.all_gather(pieces, local, group=self.control)
            joined.append(torch.cat(pieces, dim=1))
        return tuple(joined)

    def row_slice(self, rows: int) -> slice:
        """This rank's rows of a batch of `rows`."""
        share = rows // self.size
        return slice(self.rank * share, (self.rank + 1) * share)

    # -- faults -------------------------------------------------------------------------
    def report_error(self, message: str) -> None:
        """Leave this rank's last words where rank 0 can read them (the group's store)."""
        if self.distributed:
            try:
                dist.distributed_c10d._get_default_store().set(f"{ERROR_KEY}{self.rank}", message)
            except Exception:  # noqa: BLE001 - the store may be gone with the group
                pass

    def errors_of_others(self) -> dict[int, str]:
        """What the other ranks reported before they stopped (see report_error)."""
        found: dict[int, str] = {}
        if not self.distributed:
            return found
        try:
            store = dist.distributed_c10d._get_default_store()
            for rank in range(self.size):
                key = f"{ERROR_KEY}{rank}"
                if rank != self.rank and store.check([key]):
                    found[rank] = store.get(key).decode("utf-8", "replace")
        except Exception:  # noqa: BLE001 - the store's host may be gone too
            pass
        return found

    def lost_message(self, exc: BaseException, when: str) -> str:
        """A group that broke: what the other ranks said before they went, else the error."""
        said = self.errors_of_others()
        if said:
            return "; ".join(f"rank {rank}: {text}" for rank, text in sorted(said.items()))
        seconds = float(os.environ.get("WORKBENCH_DIST_TIMEOUT") or DEFAULT_TIMEOUT)
        return (f"lost contact with another process of the group {when} (it died, hung or stopped answering "
                f"for {seconds:g} s: {short_error(exc)})")

    def close(self, finished: bool = False) -> None:
        """Tear the group down; `finished` when this process ended its run normally, as every
        rank does at the same agreed step: they meet once more first, so that none closes its
        connections while another still has one in flight (gloo aborts a process whose peer
        hangs up under it)."""
        if self.distributed and dist.is_initialized():
            try:
                if finished:
                    dist.barrier()
                dist.destroy_process_group()
            except Exception:  # noqa: BLE001 - a broken group cannot always be torn down
                pass


def join_world(timeout: float | None = None) -> World:
    """The group torchrun started this process in (its environment says), or a world of one.
    The default group runs gloo for CPU tensors and, where CUDA is, NCCL for CUDA tensors."""
    if not launched_by_torchrun():
        return World()
    wait = timedelta(seconds=timeout or float(os.environ.get("WORKBENCH_DIST_TIMEOUT") or DEFAULT_TIMEOUT))
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    restarts = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if backend != "gloo":
        torch.cuda.set_device(local_rank)
    # torchrun keeps one store across the restarts of a group, and the addresses the previous
    # round's processes left in it would be read as this round's (a restarted group then
    # fails to connect): each round gets keys of its own.
    store, rank, size = next(dist.rendezvous("env://", timeout=wait))
    store = dist.PrefixStore(f"workbench/round-{restarts}", store)
    dist.init_process_group(backend, store=store, rank=rank, world_size=size, timeout=wait)
    control = dist.new_group(backend="gloo", timeout=wait) if backend != "gloo" else None
    return World(rank=rank, size=size, local_rank=local_rank, backend=backend, control=control, restarts=restarts)


def record_error(message: str) -> bool:
    """Leave this process's one-line error where torchrun's agent reads how a rank ended (the
    file TORCHELASTIC_ERROR_FILE names; its "message" as a plain string is a format torchrun
    reads): without it the supervisor (engine/processes/group.py) knows only an exit status, and a group
    that fails before its first step, when rank 0 has not written the session's status yet,
    could not say why. Whether it was left: not outside torchrun, nor where it cannot be written."""
    where = os.environ.get("TORCHELASTIC_ERROR_FILE")
    if not where or not launched_by_torchrun():
        return False
    try:  # atomic: torchrun raises on a file it cannot parse
        write_json_atomic(Path(where), {"message": message, "timestamp": int(time.time())}, durable=False)
    except (OSError, WorkbenchError):  # UnsafeFile: a link planted there is never written through
        return False
    return True


def check_divides(batch_size: int, processes: int) -> None:
    """The same rule as TrainConfig.validate, for a group whose size torchrun chose."""
    if processes > 1 and batch_size % processes:
        raise WorkbenchError(f"--batch-size {batch_size} cannot be split evenly across {processes} processes; "
                             f"give a batch size divisible by {processes} (or another --nproc)")


def lost_contact(exc: BaseException) -> bool:
    """Whether an error is the group failing (a peer died, hung or closed its connection)."""
    names = {c.__name__ for c in type(exc).__mro__}
    if names & {"DistBackendError", "DistNetworkError", "DistStoreError", "DistError"}:
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and any(word in text for word in (
        "Connection closed by peer", "Connection reset by peer", "Timed out", "timed out", "Broken pipe",
        "gloo", "NCCL", "ProcessGroup"))


def peer_died(exc: BaseException) -> bool:
    """Whether a lost contact was another process's end of the connection closing (it died),
    rather than a wait that timed out (it hung, or is too slow): the group's post-mortem
    (engine/processes/group.py) names a killed process only when its death is what rank 0 saw."""
    text = str(exc)
    return any(word in text for word in ("Connection closed by peer", "Connection reset by peer", "Broken pipe"))


def short_error(exc: BaseException) -> str:
    """A collective's error in a few words: 'Read error [127.0.0.1]:42373: Connection reset by peer'
    (gloo's source location and advice left out)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = re.sub(r"^\[[^\]]*\.(?:cc|cpp|h)(?::\d+)?\]\s*", "", text)
    first = re.split(r"(?<=[a-z])\.\s", text, maxsplit=1)[0]
    return first[:160]


# -- commands agreed by every rank ------------------------------------------------------------
@dataclass
class Control:
    """Commands, signals and the time budget, agreed at the same step by every rank.

    Every `every` steps the ranks exchange three numbers (one tiny all-reduce on the CPU):
    whether anything is pending, the highest signal any rank received, and rank 0's choice of
    the next interval. Only when something is pending does rank 0 broadcast its commands.
    `every` is chosen so that a check happens about every CONTROL_SECONDS of training: its cost
    stays far below 1% of a step, and a command takes effect within about that long."""

    world: World
    inbox: Inbox
    every: int = 1
    signal: int = 0
    """The signal this rank received (0: none), set by the signal handler."""
    _since: float = field(default_factory=time.perf_counter)
    _since_step: int = 0
    checks: int = 0
    check_seconds: float = 0.0
    """Time spent in the checks (for the benchmark's figure)."""

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def exchange(self, step: int, time_spent: bool = False) -> tuple[list[cmd.Command], str | None]:
        """The commands every rank applies now, in order, and an end ("time budget") or None."""
        t0 = time.perf_counter()
        world = self.world
        if world.is_main:
            pending = int(self.inbox.pending() or time_spent or bool(self.signal))
            numbers = torch.tensor([pending, self.signal, self._next_every(step)], dtype=torch.int64)
        else:
            numbers = torch.tensor([int(bool(self.signal)), self.signal, 0], dtype=torch.int64)
        dist.all_reduce(numbers, op=dist.ReduceOp.MAX, group=world.control)
        pending, signal_number, self.every = (int(v) for v in numbers.tolist())
        commands: list[cmd.Command] = []
        ended = None
        if pending or signal_number:
            if world.is_main:
                commands = self.inbox.take_all()
                if signal_number:
                    name = signal.Signals(signal_number).name
                    commands.append(cmd.Stop(reason=f"signal {name}", urgent=True))
                ended = "time budget" if time_spent else None
            commands, ended = world.broadcast((commands, ended) if world.is_main else None)
            self.signal = 0
        self.checks += 1
        self.check_seconds += time.perf_counter() - t0
        return commands, ended

    def _next_every(self, step: int) -> int:
        now = time.perf_counter()
        steps = step - self._since_step
        if steps > 0:
            per_step = (now - self._since) / steps
            self.every = max(1, min(1000, round(CONTROL_SECONDS / max(per_step, 1e-6))))
        self._since, self._since_step = now, step
        return self.every


def group_status(world: World, device: torch.device) -> dict[str, Any]:
    """What status.json says of the group (a collective: every rank calls it): its shape, its
    processes (rank 0 first) and the supervisor that started them, if one did."""
    if not world.distributed:  # a session resumed alone forgets the group it had
        return {"shape": None, "processes": 1, "rank_pids": None, "supervisor_pid": None}
    pids = world.gather_objects(os.getpid())
    supervisor = os.environ.get("WORKBENCH_SUPERVISOR_PID")
    return {"shape": world.shape(device), "processes": world.size, "rank_pids": pids,
            "supervisor_pid": int(supervisor) if supervisor and supervisor.isascii() and supervisor.isdigit() else None}
