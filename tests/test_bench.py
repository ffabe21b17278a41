"""`workbench bench`: runs end to end on a tiny configuration (against the real baseline
script), fails in one line on bad input, and scores validation loss exactly as the baseline."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from workbench.bench.sampling_floor import ROUNDS
from workbench.cli import main
from workbench.engine.train.presets import BY_KEY
from workbench.models.cpu_stepper import native_step_module

from support import process_gone, small_text, wait_until

BASELINE = Path(__file__).resolve().parents[2] / "shared" / "bench" / "seed_baseline.py"
# --threads 1: a tiny model on two threads spends its time in thread hand-offs, and badly so
# when other work shares the machine; one thread keeps the test fast and steady.
TINY = ["--hidden", "32", "--layers", "1", "--batch-size", "8", "--seq-length", "20", "--steps", "4",
        "--sample-chars", "50", "--threads", "1", "--device", "cpu"]


def baseline_path() -> Path:
    if not BASELINE.is_file():
        raise AssertionError(f"the reference baseline {BASELINE} is missing: the tests need ../shared/bench beside the repo")
    return BASELINE


def load_baseline_module():
    spec = importlib.util.spec_from_file_location("seed_baseline", baseline_path())
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def positive(value) -> bool:
    return isinstance(value, (int, float)) and value > 0 and value == value and value != float("inf")


def test_bench_against_the_baseline_reports_ratios(tmp_path, capsys):
    corpus = small_text(tmp_path, 150_000)  # --minutes scores on 128x100 batches of the last 10%
    out = tmp_path / "bench.json"
    rc = main(["bench", *TINY, "--corpus", str(corpus), "--vs-seed", str(baseline_path()), "--minutes", "0.05",
               "--encoding-mb", "1", "--json", str(out)])
    assert rc == 0
    results = json.loads(out.read_text())
    for key in ("train_vs_baseline_excl_val", "train_vs_baseline_incl_val", "sampling_vs_baseline",
                "sample_batch_vs_baseline"):
        assert positive(results["ratios"][key]), key
    assert results["baseline"]["corpus_chars"] == results["corpus"]["chars"] == 150_000
    assert results["baseline"]["vocab"] == results["corpus"]["symbols"]
    assert results["warnings"] == []
    fixed = results["fixed_time"]
    assert fixed["ours"]["val_positions"] == fixed["baseline"]["val_positions"] == 12_800
    assert positive(fixed["ours"]["val_loss_nats"]) and positive(fixed["baseline"]["val_loss_nats"])
    assert fixed["lower"] in ("ours", "baseline", "tie")
    assert positive(results["encoding"]["mb_per_s"]) and results["encoding"]["bytes"] > 900_000
    assert {g["name"] for g in results["goals"]} >= {"train_vs_baseline_excl_val", "sample_batch_vs_baseline",
                                                     "sample_vs_floor", "fixed_time_val_loss", "encoding_mb_per_s"}
    table = capsys.readouterr().out
    for text in ("training chars/s vs baseline excl. its validation", "sampling chars/s", ">= 20x", "val loss after",
                 "8 samples in one batch", "the floor of one stream", "the floor as stored", ">= 0.85x"):
        assert text in table
    ours = results["ours"]
    assert ours["sample_chars"] == 50 and ours["sample_batch_num"] == 8 and ours["sample_batch_chars"] == 8 * (50 // 8)
    assert positive(ours["sample_batch_chars_per_sec"])
    assert positive(ours["sample_floor_chars_per_sec"]) and ours["sample_floor_weight_bytes"] > 0
    assert positive(ours["sample_floor_as_stored_chars_per_sec"]) and 2 * ours["sample_floor_calls"] == ours["sample_floor_as_stored_calls"]
    # ours at its best over the floor's alternating rounds, against the floor's best
    assert positive(ours["sample_best_chars_per_sec"]) and ours["sample_floor_rounds"] == ROUNDS
    assert ours["sample_vs_floor"] == pytest.approx(ours["sample_best_chars_per_sec"] / ours["sample_floor_chars_per_sec"])
    native = native_step_module() is not None  # the bench's model is fp32
    assert ours["sample_elementwise"] == ("native" if native else "ATen")
    assert ("elementwise steps native" if native else "elementwise steps in ATen") in table
    assert not list(tmp_path.glob("**/encoding-bench.txt"))


def test_bench_without_baseline(tmp_path, capsys):
    corpus = small_text(tmp_path, 20_000)
    threads = torch.get_num_threads()
    rc = main(["bench", *TINY, "--corpus", str(corpus), "--encoding-mb", "0"])
    assert rc == 0
    assert torch.get_num_threads() == threads  # --threads 1 ended with the command
    table = capsys.readouterr().out
    assert "training chars/s" in table and "encoding" not in table


@pytest.mark.parametrize("args, needle", [
    (["--vs-seed", "no/such/seed_baseline.py"], "--vs-seed no/such/seed_baseline.py does not exist"),
    (["--steps", "2"], "--steps must be more than the"),
    (["--encoding-mb", "-1"], "--encoding-mb must be 0"),
    (["--quality", "--epochs", "0"], "--epochs must be at least 1"),
    (["--quality", "--minutes", "1"], "--quality compares the notebook's settings with the tuned preset only"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, needle):
    rc = main(["bench", "--corpus", str(small_text(tmp_path, 5_000)), *args])
    assert rc == 2
    err = capsys.readouterr().err
    assert err.startswith("workbench: error: ") and needle in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_failing_baseline_is_one_line(tmp_path, capsys):
    broken = tmp_path / "seed_baseline.py"
    broken.write_text("raise SystemExit('baseline broke on purpose')\n")
    rc = main(["bench", *TINY, "--corpus", str(small_text(tmp_path, 20_000)), "--vs-seed", str(broken),
               "--encoding-mb", "0"])
    assert rc == 1
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("workbench: error: the baseline") and "baseline broke on purpose" in err[-1]


def test_our_score_equals_the_baselines_final_eval(tmp_path):
    from workbench.bench.throughput import score
    from workbench.engine.corpus.load import CorpusSpec, load_corpus
    from workbench.models.charrnn import CharRNN, ModelConfig

    seed = load_baseline_module()
    seed.DEVICE = torch.device("cpu")  # it picks cuda by itself where there is one
    path = small_text(tmp_path, 140_000)  # validation: 14,000 chars, one 128x100 batch plus a tail
    corpus = load_corpus(CorpusSpec(str(path)), progress=None)

    # The baseline's own reading and encoding of the file.
    text = open(path).read()
    chars = tuple(sorted(set(text)))
    assert list(chars) == corpus.vocab
    encoded = np.array([chars.index(ch) for ch in text])
    assert np.array_equal(encoded, corpus.ids)
    val = encoded[int(len(encoded) * (1 - 0.1)):]

    torch.manual_seed(3)
    theirs = seed.CharRNN(chars, n_hidden=24, n_layers=2, drop_prob=0.5)
    ours = CharRNN(ModelConfig(vocab_size=len(chars), hidden=24, layers=2, dropout=0.5))
    mapped = {name.replace("lstm.", "rnn.", 1): tensor for name, tensor in theirs.state_dict().items()}
    ours.load_state_dict(mapped)  # strict: every parameter has its counterpart

    expected, positions = seed.final_eval(theirs, val, 128, 100)
    got, our_positions = score(ours, corpus, torch.device("cpu"))
    assert our_positions == positions == 12_800
    assert abs(got - expected) < 1e-5, (got, expected)
    assert ours.training  # scoring leaves the model as it found it


def test_quality_trains_the_notebook_and_the_tuned_preset_and_reports_every_epoch(tmp_path, capsys):
    out, kept = tmp_path / "quality.json", tmp_path / "kept"
    rc = main(["bench", "--quality", "--corpus", str(small_text(tmp_path, 40_000)), "--epochs", "2", "--hidden", "16",
               "--layers", "1", "--batch-size", "8", "--seq-length", "20", "--threads", "1", "--device", "cpu",
               "--json", str(out), "--keep-sessions", str(kept)])
    assert rc == 0
    results = json.loads(out.read_text())
    notebook, tuned = results["sides"]
    per_epoch = 36_000 // (8 * 20)  # the first 90% of the text, in batches of 8x20
    for side in (notebook, tuned):
        assert side["steps_per_epoch"] == per_epoch and side["steps"] == 2 * per_epoch
        assert [(p["epoch"], p["step"]) for p in side["curve"]] == [(1, per_epoch), (2, 2 * per_epoch)]
        assert all(positive(p["val_loss"]) and p["val_loss"] < 4.0 for p in side["curve"])  # it learned
        assert (side["config"]["hidden"], side["config"]["layers"]) == (16, 1)  # given: both sides
        assert (kept / side["name"] / "config.json").is_file()
    # each side is what the command line makes of its preset
    assert (notebook["config"]["lr"], notebook["config"]["schedule"]) == (0.001, "constant")
    assert all(tuned["config"][k] == v for k, v in BY_KEY["tuned"].values.items() if k not in ("hidden", "layers",
                                                                                                 "batch_size", "seq_length"))
    # not anna: the target is the notebook's own final loss, which the notebook reaches at its end at the latest
    assert results["target"]["val_loss"] == notebook["final_val_loss"]
    assert notebook["reached"] is not None and notebook["reached"]["step"] <= 2 * per_epoch
    assert results["goals"] == [] and "for information" in results["warnings"][0]
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines()]
    assert ["1", f"{notebook['curve'][0]['val_loss']:.4f}", f"{tuned['curve'][0]['val_loss']:.4f}"] in rows
    assert ["2", f"{notebook['curve'][1]['val_loss']:.4f}", f"{tuned['curve'][1]['val_loss']:.4f}"] in rows


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's (prctl)")
def test_a_killed_quality_bench_leaves_no_trainer_behind(tmp_path):
    kept = tmp_path / "kept"
    bench = subprocess.Popen([sys.executable, "-m", "workbench", "bench", "--quality", "--corpus",
                              str(small_text(tmp_path, 40_000)), "--epochs", "500", "--hidden", "16", "--layers", "1",
                              "--batch-size", "8", "--seq-length", "20", "--threads", "1", "--device", "cpu",
                              "--keep-sessions", str(kept)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    status = kept / "notebook" / "status.json"
    try:
        state = wait_until(lambda: status.is_file() and json.loads(status.read_text() or "{}").get("pid")
                           and json.loads(status.read_text()), "the notebook's side to train", 120)
        os.kill(bench.pid, signal.SIGKILL)  # no chance to clean up: the kernel tells the trainer
        bench.wait()
        wait_until(lambda: process_gone(state["pid"]), "the trainer to end with the bench", 120)
    finally:
        bench.kill()
    final = json.loads(status.read_text())
    assert final["state"] == "stopped" and final["pid"] is None  # it saved and stopped: resumable


def test_the_floors_and_ours_are_timed_in_alternating_rounds_and_each_keeps_its_best(monkeypatch):
    import workbench.bench.sampling_floor as sampling_floor
    from workbench.models.charrnn import CharRNN, ModelConfig

    calls = []
    floors = {"ours": iter([0.004, 0.002, 0.003, 0.005, 0.0025]),
              "stored": iter([0.005, 0.004, 0.008, 0.006, 0.007])}  # seconds a char
    picked = [("column-major", lambda: None), ("oneDNN", lambda: None)]

    def floor(model, rounds, how, kernels=None):
        calls.append(how)
        assert how == "stored" or kernels is picked  # the kernels picked once, before the rounds
        return next(floors[how])

    monkeypatch.setattr(sampling_floor, "floor_seconds_per_char", floor)
    monkeypatch.setattr(sampling_floor, "fastest_kernels", lambda model: picked)
    rates = iter([100.0, 300.0, 200.0, 250.0, 120.0])

    def ours():
        calls.append("sampler")
        return next(rates)

    figures = sampling_floor.floor_figures(CharRNN(ModelConfig(10, "lstm", 8, 2, 0.0)), ours, rounds=5)
    assert calls == ["sampler", "ours", "stored"] * 5
    assert figures["sample_best_chars_per_sec"] == 300.0 and figures["sample_floor_chars_per_sec"] == pytest.approx(500.0)
    assert figures["sample_vs_floor"] == pytest.approx(0.6)
    assert figures["sample_floor_as_stored_chars_per_sec"] == pytest.approx(250.0)
    assert figures["sample_vs_floor_as_stored"] == pytest.approx(1.2)
    # 2 layers: 4 products as stored, 2 stacked calls, and the bytes of every weight the products read
    assert figures["sample_floor_as_stored_calls"] == 4 and figures["sample_floor_calls"] == 2
    assert figures["sample_floor_kernels"] == "column-major + oneDNN"
    assert figures["sample_floor_weight_bytes"] == 4 * (2 * 32 * 8 + 32 * 8 + 10 * 8)


def test_both_floors_time_the_same_products(monkeypatch):
    """The stacked calls are the stored products regrouped: the same weights, the same results."""
    import workbench.bench.sampling_floor as sampling_floor
    from workbench.models.charrnn import CharRNN, ModelConfig
    from workbench.models.cpu_stepper import CpuStepper

    torch.manual_seed(0)
    model = CharRNN(ModelConfig(12, "lstm", 8, 3, 0.0)).eval()
    stream = CpuStepper(model, model.init_hidden(1))
    stored = sampling_floor._as_stored(model)
    stacked = sampling_floor._stacked(model)
    assert len(stored) == 6 and len(stacked) == 3
    # each stacked product in every fp32 kernel there is here (MKL's column-major, oneDNN's packed)
    kernels = int(torch.backends.mkl.is_available()) + int(torch.backends.mkldnn.is_available())
    assert {len(k) for k in stacked} == {max(1, kernels)}
    picked = sampling_floor.fastest_kernels(model, chars=5)
    assert len(picked) == 3 and all(layout in {layout for layout, _ in k} for (layout, _), k in zip(picked, stacked))
    stored_bytes = sum(call.args[0].numel() * 4 for call in stored)
    assert sum(p.matrix_bytes for p in stream.products) == stored_bytes
    assert sampling_floor.floor_seconds_per_char(model, chars=5, rounds=1) > 0
    assert sampling_floor.floor_seconds_per_char(model, chars=5, rounds=1, how="stored") > 0
