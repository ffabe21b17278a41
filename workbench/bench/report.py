"""What `workbench bench` prints: progress on stderr, the goals met or missed, the tables, and
the results as JSON when asked."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from workbench.engine.errors import WorkbenchError
from workbench.engine.formats import table
from workbench.engine.export.user_files import output_target

# The goals for a 2-core CPU; (key, label, threshold).
RATIO_GOALS = (
    ("train_vs_baseline_excl_val", "training chars/s vs baseline excl. its validation", 1.5),
    ("train_vs_baseline_incl_val", "training chars/s vs baseline incl. its validation", 2.5),
    ("sample_batch_vs_baseline", "sampling, a batch of 8 streams, all chars/s vs the baseline's one stream", 20.0),
)
# One stream cannot reach 20x the baseline on 2 cores when exact (each character reads every
# weight once): its goal is against that limit, the products alone (sampling_floor.py).
SAMPLE_FLOOR_GOAL = 0.85
SAMPLE_BATCH_GOAL = 8  # streams of the batch its goal is for
ENCODING_GOALS = {"mb_per_s": 100.0, "peak_bytes_per_char": 2.0}  # see engine/corpus/encode.py
TUI_GOAL = 0.97  # training throughput with the UI open, as a fraction of headless


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def write_json(args: argparse.Namespace, results: dict[str, Any]) -> None:
    if args.json is None:
        return
    try:
        args.json.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WorkbenchError(f"cannot make the folder of --json {args.json}: {exc.strerror or exc}", exit_code=1) from None
    target = output_target(str(args.json), "--json")  # the rules for any path a user names (engine/export/user_files.py)
    target.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    say(f"results written to {target.shown}")


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    met = []
    for key, label, threshold in RATIO_GOALS:
        value = results.get("ratios", {}).get(key)
        if key == "sample_batch_vs_baseline" and results.get("ours", {}).get("sample_batch_num") != SAMPLE_BATCH_GOAL:
            continue  # the goal is for a batch of 8 (--sample-batch changed it)
        if value is not None:
            met.append({"name": key, "label": label, "value": value, "goal": f">= {threshold:g}x",
                        "pass": value >= threshold})
    floor = results.get("ours", {}).get("sample_vs_floor")
    if floor is not None:
        met.append({"name": "sample_vs_floor", "label": "sampling, one stream, as a fraction of its floor",
                    "value": floor, "goal": f">= {SAMPLE_FLOOR_GOAL:g}x", "pass": floor >= SAMPLE_FLOOR_GOAL})
    fixed = results.get("fixed_time") or {}
    if "baseline" in fixed:
        met.append({"name": "fixed_time_val_loss", "label": f"validation loss after {fixed['minutes']:g} min",
                    "value": fixed["ours"]["val_loss_nats"], "goal": "lower than the baseline",
                    "pass": fixed["lower"] == "ours"})
    enc = results.get("encoding")
    if enc:
        met.append({"name": "encoding_mb_per_s", "label": "corpus encoding MB/s", "value": enc["mb_per_s"],
                    "goal": f">= {ENCODING_GOALS['mb_per_s']:g}", "pass": enc["mb_per_s"] >= ENCODING_GOALS["mb_per_s"]})
        met.append({"name": "encoding_peak_bytes_per_char", "label": "corpus encoding peak bytes/char",
                    "value": enc["peak_bytes_per_char"], "goal": f"<= {ENCODING_GOALS['peak_bytes_per_char']:g}",
                    "pass": enc["peak_bytes_per_char"] <= ENCODING_GOALS["peak_bytes_per_char"]})
    return met


def number(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def seconds_text(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds >= 10 else f"{seconds:.2f} s"


def format_table(results: dict[str, Any]) -> str:
    """The human-readable report: context lines, then one row per figure."""
    m, c, ours = results["machine"], results["config"], results["ours"]
    base = results.get("baseline")
    lines = [
        f"workbench bench, {results['date_utc']}",
        f"machine: {m['summary']}",
        f"corpus:  {results['corpus']['file']} ({results['corpus']['read_as']}): "
        f"{results['corpus']['chars']:,} chars, {results['corpus']['symbols']} symbols",
        f"config:  lstm {c['hidden']}x{c['layers']}, batch {c['batch_size']}, seq {c['seq_length']}, dropout 0.5, "
        f"Adam 1e-3, clip 5; ours in {c.get('precision', 'fp32')} (the baseline fp32); {c['steps']} timed steps, "
        f"{ours['params']:,} parameters",
        "",
    ]
    rows = [("figure", "ours", "baseline", "ratio", "goal", "")]
    rows += _speed_rows(results) + _fixed_time_rows(results) + _encoding_rows(results)
    lines += table(rows, align="lrrrll", rule=True)
    if base:
        lines.append("")
        lines.append(f"baseline: {base['steps']} steps, its validation took {seconds_text(base['periodic_val_seconds'])} "
                     f"of {seconds_text(base['train_seconds_total'])}; ours: {ours['steps']} steps in "
                     f"{seconds_text(ours['train_seconds'])} including our periodic estimate "
                     f"({ours['eval_batches']} batches every {ours['eval_every']} steps)")
    if c["device"].startswith("cuda"):
        lines.append("note: the goals are set for a 2-core CPU; on a GPU the ratios are for information")
    lines.extend(f"warning: {w}" for w in results["warnings"])
    return "\n".join(lines)


def _verdicts(results: dict[str, Any]) -> dict[str, str]:
    return {g["name"]: ("PASS" if g["pass"] else "MISS") for g in results["goals"]}


def _speed_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    c, ours, base = results["config"], results["ours"], results.get("baseline")
    ratios, verdict = results.get("ratios", {}), _verdicts(results)
    rows: list[tuple[str, ...]] = []

    def ratio_row(label: str, ours_value: float, base_value: float | None, key: str) -> None:
        ratio = ratios.get(key)
        goal = next((f">= {t:g}x" for k, _, t in RATIO_GOALS if k == key), "") if key in verdict else ""
        rows.append((label, number(ours_value), number(base_value), f"{ratio:.2f}x" if ratio else "-",
                     goal if ratio else "", verdict.get(key, "")))

    ratio_row("training chars/s vs baseline excl. its validation", ours["train_chars_per_sec"],
              base and base["train_chars_per_sec_excl_val"], "train_vs_baseline_excl_val")
    ratio_row("training chars/s vs baseline incl. its validation", ours["train_chars_per_sec"],
              base and base["train_chars_per_sec_incl_val"], "train_vs_baseline_incl_val")
    rows.append((f"  ours steady state (after {c['warmup_steps']} warm-up steps)",
                 number(ours["train_chars_per_sec_steady"]), "", "", "", ""))
    ratio_row(f"sampling chars/s (top-k {c['sample_top_k']}, {c['sample_chars']:,} chars)",
              ours["sample_chars_per_sec"], base and base["sample_chars_per_sec"], "sampling_vs_baseline")
    if "sample_floor_chars_per_sec" in ours:
        how = {"native": ", elementwise steps native", "ATen": ", elementwise steps in ATen"}.get(ours.get("sample_elementwise"), "")
        rows.append((f"  ours, one stream's next {ours.get('sample_floor_chars', 'few')} chars at its best in "
                     f"{ours['sample_floor_rounds']} rounds alternating with the floor{how}",
                     number(ours["sample_best_chars_per_sec"]), "", "", "", ""))
        mb = ours["sample_floor_weight_bytes"] / 1e6
        if "sample_floor_as_stored_chars_per_sec" in ours:
            rows.append((f"  the floor as stored: its products alone, {ours['sample_floor_as_stored_calls']} torch.mv "
                         f"on the model's weights ({mb:.1f} MB a char), its best",
                         number(ours["sample_floor_as_stored_chars_per_sec"]), "",
                         f"{ours['sample_vs_floor_as_stored']:.2f}x", "", ""))
        kernels = ours.get("sample_floor_kernels", ours["sample_floor_layout"])
        rows.append((f"  the floor of one stream: our {ours['sample_floor_calls']} stacked products in sequence, each in its "
                     f"fastest kernel ({kernels}; ours: {ours['sample_floor_layout']}), its best",
                     number(ours["sample_floor_chars_per_sec"]),
                     "", f"{ours['sample_vs_floor']:.2f}x", f">= {SAMPLE_FLOOR_GOAL:g}x",
                     verdict.get("sample_vs_floor", "")))
    if "sample_batch_chars_per_sec" in ours:
        ratio_row(f"  ours, {ours['sample_batch_num']} samples in one batch (--num), all chars/s",
                  ours["sample_batch_chars_per_sec"], base and base["sample_chars_per_sec"], "sample_batch_vs_baseline")
    if "sample_eager_chars_per_sec" in ours:
        rows.append(("  ours, one stream without the CUDA graph (op by op)", number(ours["sample_eager_chars_per_sec"]),
                     "", f"{ours['sample_graph_vs_eager']:.2f}x", "", ""))
    if "score_chars_per_sec" in ours:
        rows.append((f"scoring chars/s (workbench score, {ours['score_chars']:,} chars)",
                     number(ours["score_chars_per_sec"]), "", "", "", ""))
        rows.append(("  vs the model's fused forward alone at batch 1 (its floor)",
                     number(ours["score_floor_chars_per_sec"]), "", f"{ours['score_vs_floor']:.2f}x", "", ""))
    return rows


def _fixed_time_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    fixed = results.get("fixed_time")
    if not fixed:
        return []
    fb = fixed.get("baseline")
    ours = fixed["ours"]
    return [
        (f"val loss after {fixed['minutes']:g} min, nats (bpc)",
         f"{ours['val_loss_nats']:.4f} ({ours['val_bits_per_char']:.3f})",
         f"{fb['val_loss_nats']:.4f} ({fb['val_bits_per_char']:.3f})" if fb else "-",
         f"{fixed['lower']} lower" if fb else "-", "lower" if fb else "",
         _verdicts(results).get("fixed_time_val_loss", "")),
        ("  steps in that time", number(ours["steps"]), number(fb["steps"]) if fb else "-", "", "", ""),
    ]


def _encoding_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    enc = results.get("encoding")
    if not enc:
        return []
    verdict = _verdicts(results)
    return [
        (f"corpus encoding MB/s ({enc['bytes'] / 1e6:,.0f} MB text)", number(enc["mb_per_s"], 1), "", "",
         f">= {ENCODING_GOALS['mb_per_s']:g}", verdict["encoding_mb_per_s"]),
        ("corpus encoding peak memory, bytes/char", number(enc["peak_bytes_per_char"], 2), "", "",
         f"<= {ENCODING_GOALS['peak_bytes_per_char']:g}", verdict["encoding_peak_bytes_per_char"]),
    ]


def format_tui_table(results: dict[str, Any]) -> str:
    c, t = results["config"], results["tui"]
    goal = results["goals"][0]
    lines = [
        f"workbench bench --tui, {results['date_utc']}",
        f"machine: {results['machine']['summary']}",
        f"config:  lstm {c['hidden']}x{c['layers']}, batch {c['batch_size']}, seq {c['seq_length']}, "
        f"{c.get('precision', 'fp32')}, {c['steps']} steps "
        f"a run ({c['warmup_steps']} warm-up steps left out), log every {c['log_every']}; UI in {c['terminal']}",
        "",
        "round  side       chars/s (median of steps)  chars/s (wall clock)",
    ]
    for r in t["rounds"]:
        side = "UI open" if r["side"] == "ui" else "headless"
        lines.append(f"{r['round']:>5}  {side:<9}  {number(r['median_chars_per_sec']):>25}  "
                     f"{number(r['wall_chars_per_sec']):>20}")
    lines += [
        "",
        f"headless: {number(t['headless_chars_per_sec'])} chars/s; UI open: {number(t['ui_chars_per_sec'])} chars/s",
        f"ratio UI open / headless: {t['ratio']:.3f} (goal {goal['goal']}): {'PASS' if goal['pass'] else 'MISS'}"
        f"  (wall clock: {t['wall_ratio']:.3f})",
    ]
    lines.extend(f"warning: {w}" for w in results["warnings"])
    return "\n".join(lines)
