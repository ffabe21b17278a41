import os
import pickle
import signal
import subprocess
import sys
import textwrap
import warnings
import time

import pytest
import torch

from workbench.engine.sessions.checkpoint import CheckpointError, load_checkpoint, load_first_good, save_checkpoint

from support import REPO, make_session, small_text


def test_round_trip_of_plain_values_and_tensors(tmp_path):
    payload = {"model": {"w": torch.randn(3, 4)}, "step": 12, "rng": {"python": (3, tuple(range(5)), None)},
               "vocab": ["a", "b"], "best_val_loss": None}
    save_checkpoint(tmp_path / "c.pt", payload)
    data = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(data["model"]["w"], payload["model"]["w"]) and data["step"] == 12
    assert list(tmp_path.iterdir()) == [tmp_path / "c.pt"]  # no temporary file left


class _Payload:
    def __reduce__(self):
        return (os.system, (f"touch {_Payload.marker}",))


def test_a_pickle_payload_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    _Payload.marker = marker
    evil = tmp_path / "evil.pt"
    torch.save({"format": "workbench-checkpoint", "version": 1, "x": _Payload()}, evil)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(evil)
    message = str(info.value)
    assert "refused" in message and "system" in message  # names what it met
    assert "\n" not in message and "In PyTorch" not in message  # torch's paragraph left out
    assert not marker.exists()
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps(_Payload()))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing of torch's may reach the user's terminal
        with pytest.raises(CheckpointError, match="refused"):
            load_checkpoint(raw)
    assert not marker.exists()


def test_truncated_and_foreign_files_give_clear_errors(tmp_path):
    save_checkpoint(tmp_path / "c.pt", {"w": torch.randn(100, 100)})
    data = (tmp_path / "c.pt").read_bytes()
    (tmp_path / "half.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(tmp_path / "half.pt")
    torch.save({"w": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a workbench checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_write_killed_half_way_leaves_the_previous_checkpoint(tmp_path):
    """kill -9 a process while it writes a large checkpoint over an existing one."""
    target = tmp_path / "latest.pt"
    save_checkpoint(target, {"generation": 1, "w": torch.zeros(10)})
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {str(REPO)!r})
        from workbench.engine.sessions.checkpoint import save_checkpoint
        print("ready", flush=True)
        while True:
            save_checkpoint(__import__("pathlib").Path({str(target)!r}), {{"generation": 2, "w": torch.randn(40_000_000)}})
    """)
    for delay in (0.3, 0.9):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = load_checkpoint(target)  # whichever generation: never a torn file
        assert data["generation"] in (1, 2)
    leftovers = [p for p in tmp_path.iterdir() if p.name != "latest.pt"]
    assert all(p.name.startswith(".latest.pt.") for p in leftovers)  # only a dead writer's temp file


def test_restore_order_is_latest_then_kept_steps_newest_first_then_best(tmp_path):
    session = make_session(tmp_path, small_text(tmp_path))
    folder = session.checkpoints_dir
    folder.mkdir(parents=True, exist_ok=True)
    for name, step in [("best.pt", 5), ("step-10.pt", 10), ("step-20.pt", 20), ("latest.pt", 30)]:
        save_checkpoint(folder / name, {"step": step})
    order = session.restore_candidates()
    assert [p.name for p in order] == ["latest.pt", "step-20.pt", "step-10.pt", "best.pt"]
    (folder / "latest.pt").write_bytes(b"torn")
    (folder / "step-20.pt").write_bytes(b"")
    data, path, errors = load_first_good(order)
    assert (data["step"], path.name, len(errors)) == (10, "step-10.pt", 2)
    for p in order[:-1]:
        p.write_bytes(b"x")
    assert load_first_good(session.restore_candidates())[0]["step"] == 5  # best, the last resort
    with pytest.raises(CheckpointError):
        load_first_good(order[:-1])
