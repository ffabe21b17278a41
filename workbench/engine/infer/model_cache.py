"""Models of one session kept loaded for the threads of a long-lived process (the studio's
workers): loaded from its checkpoints ("latest", "best", "120") by the thread that first
needs one, shared after. torch is imported there, in that thread, the first time: importing
this module (the app does) costs nothing."""
from __future__ import annotations

import threading
from typing import Any

from workbench.engine.sessions.session import Session
from workbench.engine.machine.threads import LoadProbe, choose_threads


class ModelCache:
    """The last KEEP models used; the lock makes a second thread wait for a model being loaded
    rather than load it twice.

    CPU threads are chosen at every use from the cores other processes left free since the
    last (threads.choose_threads): one beside a trainer that keeps the cores busy (several
    sampling threads would wait on each other and on it), every core on a quiet machine (one
    stream of a 512x2 model samples ~1.7x faster on two cores than on one). torch's count is
    per process: this is the only torch work of the app's process."""

    KEEP = 3

    def __init__(self, session: Session, device: str = "cpu", precision: str = "auto",
                 quantize: str | None = None) -> None:
        self.session, self.device, self.precision, self.quantize = session, device, precision, quantize
        self._lock = threading.Lock()
        self._models: dict[str, tuple[Any, list[str], dict[str, Any]]] = {}
        self._load = LoadProbe()

    def get(self, which: str) -> tuple[Any, list[str], dict[str, Any]]:
        """(model, vocab, info) for a checkpoint; info["device"] says where it runs now."""
        import torch

        from workbench.engine.machine.device import describe_device
        from workbench.engine.infer.inference import load_model

        with self._lock:
            if self.device == "cpu" or self.device == "auto" and not torch.cuda.is_available():
                choose_threads(self._load, wait=False)
            if which not in self._models:
                self._models[which] = load_model(self.session, which, self.device, precision=self.precision,
                                                 quantize=self.quantize)
                for old in list(self._models)[: -self.KEEP]:
                    del self._models[old]
            model, vocab, info = self._models[which]
            device = describe_device(next(model.parameters()).device)
            return model, vocab, {**info, "device": f"{device}, {info['precision']}"}  # the studio's title says both

    def forget(self) -> None:
        """Drop every model: `latest` may name a newer file now."""
        with self._lock:
            self._models.clear()
