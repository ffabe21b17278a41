"""Which device `--device` gives, on machines this one can pretend to be."""
import pytest
import torch

from workbench.engine.machine.device import resolve_device
from workbench.engine.errors import WorkbenchError


def _pretend(monkeypatch, cuda_count=0, mps=False):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_count)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("cuda_count, mps, expected", [(2, True, "cuda"), (0, True, "mps"), (0, False, "cpu")])
def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch, cuda_count, mps, expected):
    _pretend(monkeypatch, cuda_count, mps)
    assert resolve_device("auto").type == expected


def test_explicit_devices_and_their_errors(monkeypatch):
    _pretend(monkeypatch, cuda_count=2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(WorkbenchError, match="only 2 CUDA device"):
        resolve_device("cuda:2")
    with pytest.raises(WorkbenchError, match="whole number, as in cuda:1"):
        resolve_device("cuda:x")
    with pytest.raises(WorkbenchError, match="Metal backend is not available"):
        resolve_device("mps")
    with pytest.raises(WorkbenchError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    _pretend(monkeypatch, cuda_count=0)
    with pytest.raises(WorkbenchError, match="no CUDA GPU is available here"):
        resolve_device("cuda")
