"""The command line's grammar: every subcommand and its options, with the defaults of the
engine's own dataclasses. Building it imports nothing heavy (no torch, no numpy)."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from workbench.bench.args import add_bench_arguments
from workbench.cli.examples import add_examples
from workbench.engine.config import CELLS, OPTIMIZERS, PRECISIONS, SCHEDULES, SampleSettings, TrainConfig
from workbench.engine.errors import WorkbenchError
from workbench.engine.train.presets import PRESETS
from workbench.engine.sessions.session import default_sessions_dir

DESCRIPTION = "Train character-level language models live, in the terminal or headless."
SCORE_DEFINITION = ("The text is fed to the model one character after another from a zero hidden state "
                    "(dropout off); every character after the first is predicted from those before it, and "
                    "the score is the mean of -log2 p over those predicted characters (bits per character).")



class ArgumentParser(argparse.ArgumentParser):
    """argparse, but its errors follow our one-line convention."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise WorkbenchError(f"{message} (see `{self.prog} --help`)")


def thread_count(text: str) -> int | None:
    """--threads: a whole number of at least 1, or auto (None: threads.ThreadGovernor chooses)."""
    if text.strip().lower() == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or auto, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (or auto), got {value}")
    return value


def _budget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("budget (the first reached ends the run)")
    g.add_argument("--steps", type=int, help="total target steps of the session (resume continues up to it)")
    g.add_argument("--epochs", type=float, help="total target epochs of the session")
    g.add_argument("--minutes", type=float, help="wall-clock minutes for this run")
    p.add_argument("--headless", action="store_true", help="print progress lines instead of opening the terminal UI")
    p.add_argument("--detach", action="store_true",
                   help="train in the background and return at once (`workbench attach`, `pause`, `stop` reach it)")


def _sessions_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sessions-dir", type=Path, default=None,
                   help="where sessions live (default: $WORKBENCH_SESSIONS or ./sessions)")


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="workbench", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=_version())
    # Its own dest: a subcommand's --sessions-dir default would overwrite a shared one.
    parser.add_argument("--sessions-dir", dest="home_sessions_dir", metavar="DIR", type=Path, default=None,
                        help="where sessions live, for the terminal UI's home screen (default: $WORKBENCH_SESSIONS or ./sessions)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    _add_train_parser(sub)
    rs = sub.add_parser("resume", help="continue a session from its latest checkpoint, or unpause it",
                        description="Continue a session exactly where it stopped, from its latest checkpoint. "
                                    "A session whose trainer is paused is unpaused instead (and watched in the "
                                    "terminal UI when there is one); with --steps, --epochs or --minutes that "
                                    "is refused: a running trainer keeps its budget.")
    rs.add_argument("name", help="session name (or a unique start of it)")
    rs.add_argument("--new-text", action="store_true",
                    help="the session's text file changed since it was trained on (same characters): go on "
                         "training on it as it is now (from the start of an epoch when it got shorter)")
    _sessions_arg(rs)
    _add_group_args(rs, None)
    _budget_args(rs)
    _add_sample_parser(sub)
    ls = sub.add_parser("sessions", help="list sessions", description="List sessions, most recently updated first.")
    _sessions_arg(ls)
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    _add_control_parsers(sub)
    _add_inspect_parsers(sub)
    op = sub.add_parser("open", help="show a session in the terminal UI without training it",
                        description="Show a session (its chart, samples and events) in the terminal UI; r resumes training.")
    op.add_argument("name", help="session name")
    _sessions_arg(op)
    b = sub.add_parser("bench", help="measure speed and quality on this machine",
                       description="Measure training, evaluation and sampling speed, optionally against the reference baseline.")
    add_bench_arguments(b)
    _add_web_parsers(sub)
    add_examples(sub)
    return parser


def _add_train_parser(sub: Any) -> None:
    d = TrainConfig()
    t = sub.add_parser("train", help="start a new training session", description="Start a new training session.")
    t.add_argument("--corpus", required=True, help="a UTF-8 text file, or a known corpus: anna, tinyshakespeare, python-help")
    t.add_argument("--session", help="session name (default: derived from corpus, model and time)")
    _sessions_arg(t)
    c = t.add_argument_group("corpus")
    c.add_argument("--encoding", default=d.encoding, help="text encoding of the corpus (default %(default)s)")
    c.add_argument("--keep-crlf", action="store_true", help="keep CRLF line endings instead of turning them into LF")
    c.add_argument("--val-frac", type=float, default=d.val_frac, help="last fraction held out for validation (default %(default)s)")
    m = t.add_argument_group("model")
    m.add_argument("--preset", choices=[p.key for p in PRESETS], default=None,
                   help="a model and its training settings in one name (" +
                        "; ".join(f"{p.key}: {p.label.split(': ', 1)[-1]}" for p in PRESETS) +
                        "); the flags below still win (default: none, the notebook's settings)")
    # None: not given, so the preset's value or the notebook's (cli/train.py config_from_args)
    m.add_argument("--cell", choices=CELLS, default=None, help=f"recurrent cell (default {d.cell})")
    m.add_argument("--hidden", type=int, default=None, help=f"units per layer (default {d.hidden})")
    m.add_argument("--layers", type=int, default=None, help=f"recurrent layers (default {d.layers})")
    m.add_argument("--dropout", type=float, default=None, help=f"dropout (default {d.dropout})")
    _add_optimisation_args(t.add_argument_group("optimisation"), d)
    r = t.add_argument_group("hardware")
    r.add_argument("--device", default=d.device, help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")
    r.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                   help="fp32, bf16 (bfloat16 autocast) or auto: bf16 on CPUs with native bfloat16, else fp32 (default %(default)s)")
    r.add_argument("--bf16", dest="precision", action="store_const", const="bf16", help=argparse.SUPPRESS)
    r.add_argument("--threads", type=thread_count, default=None, metavar="N|auto",
                   help="CPU threads for torch; auto (the default) takes the cores other processes leave free, "
                        "looked at again every few seconds")
    _add_group_args(r, d.processes)
    r.add_argument("--dist-timeout", type=float, default=d.dist_timeout, metavar="SECONDS",
                   help="with --nproc: seconds a process waits for the others before the run fails (default %(default)g)")
    _add_monitoring_args(t.add_argument_group("monitoring"), d)
    g = t.add_argument_group("guards")
    g.add_argument("--patience", type=int, default=None, help="stop after this many checkpoints without a better validation loss")
    g.add_argument("--no-explosion-guard", action="store_true", help="do not stop when the loss exceeds 3x the first")
    _budget_args(t)


def _add_group_args(p: Any, default: int | None) -> None:
    kept = " (default: the session's own)" if default is None else " (default %(default)s)"
    p.add_argument("--nproc", type=int, default=default, metavar="N",
                   help="processes training together under torchrun (DDP): one per GPU on CUDA, or N CPU processes "
                        "with --device cpu; the batch is split among them" + kept)
    p.add_argument("--max-restarts", type=int, default=None if default is None else 0, metavar="N",
                   help="with --nproc: times torchrun restarts a failed group, which resumes from its last "
                        "checkpoint" + (" (default: the session's own)" if default is None else " (default %(default)s)"))


def _add_optimisation_args(o: Any, d: TrainConfig) -> None:
    o.add_argument("--batch-size", type=int, default=None, help=f"rows per batch (default {d.batch_size})")
    o.add_argument("--seq-length", type=int, default=None, help=f"characters per row per step (default {d.seq_length})")
    o.add_argument("--lr", type=float, default=None, help=f"learning rate (default {d.lr})")
    # None as for the model's flags: a preset may set these too
    o.add_argument("--optimizer", choices=OPTIMIZERS, default=None, help=f"(default {d.optimizer})")
    o.add_argument("--weight-decay", type=float, default=None, help=f"(default {d.weight_decay})")
    o.add_argument("--schedule", choices=SCHEDULES, default=None,
                   help=f"constant, cosine (warmup then cosine to --min-lr-frac) or decay (char-rnn's per-epoch decay) (default {d.schedule})")
    o.add_argument("--warmup-steps", type=int, default=None, help=f"cosine warmup steps (default {d.warmup_steps})")
    o.add_argument("--min-lr-frac", type=float, default=None, help=f"cosine floor as a fraction of --lr (default {d.min_lr_frac})")
    o.add_argument("--decay-rate", type=float, default=d.decay_rate, help="decay schedule factor per epoch (default %(default)s)")
    o.add_argument("--decay-after", type=int, default=d.decay_after, help="decay schedule starts after this many epochs (default %(default)s)")
    o.add_argument("--clip", type=float, default=None, help=f"gradient-norm clip, 0 for none (default {d.clip})")
    o.add_argument("--seed", type=int, default=d.seed, help="random seed (default %(default)s)")


def _add_monitoring_args(e: Any, d: TrainConfig) -> None:
    s = d.sample
    e.add_argument("--log-every", type=int, default=d.log_every, help="steps per progress report (default %(default)s)")
    e.add_argument("--eval-every", type=int, default=d.eval_every, help="steps per cheap validation estimate, 0 for none (default %(default)s)")
    e.add_argument("--eval-batches", type=int, default=d.eval_batches, help="validation batches in the estimate (default %(default)s)")
    e.add_argument("--checkpoint-every", type=int, default=d.checkpoint_every,
                   help="steps per checkpoint with a full validation pass, 0 for only at the end (default %(default)s)")
    e.add_argument("--keep-last", type=int, default=d.keep_last, help="step checkpoints kept besides latest and best (default %(default)s)")
    e.add_argument("--sample-every", type=int, default=d.sample_every, help="steps per sample, 0 for none (default %(default)s)")
    e.add_argument("--sample-length", type=int, default=s.length, help="(default %(default)s)")
    e.add_argument("--sample-top-k", type=int, default=s.top_k, help="(default %(default)s)")
    e.add_argument("--sample-top-p", type=float, default=None, help="(default off)")
    e.add_argument("--sample-temperature", type=float, default=s.temperature, help="(default %(default)s)")
    e.add_argument("--prime", default=None, help=f"prime text for samples (default {s.prime!r})")
    e.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write TensorBoard logs as it trains, into DIR/SESSION (needs the [tensorboard] extra)")


def _add_sample_parser(sub: Any) -> None:
    s = SampleSettings()
    sm = sub.add_parser("sample", help="generate text from a session's checkpoint",
                        description="Generate text from a session's checkpoint.")
    sm.add_argument("name", help="session name")
    _sessions_arg(sm)
    primes = sm.add_mutually_exclusive_group()
    primes.add_argument("--prime", default=None, help="text to start from (default: the session's sample prime)")
    primes.add_argument("--prime-file", default=None, metavar="FILE",
                        help="start from the text of FILE (UTF-8, CRLF -> LF; - for standard input)")
    sm.add_argument("--length", type=int, default=s.length, help="characters to generate (default %(default)s)")
    sm.add_argument("--top-k", type=int, default=s.top_k, help="0 for no limit (default %(default)s)")
    sm.add_argument("--top-p", type=float, default=None, help="nucleus sampling threshold (default off)")
    sm.add_argument("--temperature", type=float, default=s.temperature, help="(default %(default)s)")
    sm.add_argument("--seed", type=int, default=None, help="same seed, same text (default: random)")
    sm.add_argument("--checkpoint", default="latest", help="latest, best or a step number (default %(default)s)")
    sm.add_argument("--num", type=int, default=1, help="samples drawn side by side in one batch (default %(default)s)")
    _model_args(sm)
    sm.add_argument("--json", action="store_true", help="print the samples as JSON instead of streaming them")



def _model_args(p: argparse.ArgumentParser) -> None:
    """Where and with which weights sample, probe and score run the model."""
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default %(default)s)")
    _precision_arg(p)


def _precision_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quantize", choices=("int8",), default=None,
                   help="int8: weight-only int8 weights of the same checkpoint (CPU only), faster for one stream "
                        "of a large model and not quite the trained model; its speed and cost in bits/char against "
                        "fp32 on the validation text are measured and printed first (default: off)")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default="auto",
                   help="weights to run: auto is bf16 for a session trained under bf16 (the model as it was "
                        "validated, half the bytes a character) where bf16 is native, else fp32 (default %(default)s)")

def _version() -> str:
    from workbench import __version__

    return f"workbench {__version__}"


def sessions_dir(args: argparse.Namespace) -> Path:
    folder = Path(args.sessions_dir) if getattr(args, "sessions_dir", None) else default_sessions_dir()
    return checked_sessions_dir(folder)


def checked_sessions_dir(folder: Path) -> Path:
    if folder.exists() and not folder.is_dir():
        raise WorkbenchError(f"the sessions folder {folder} is a file, not a folder; "
                             "give a folder with --sessions-dir or WORKBENCH_SESSIONS (it is made when missing)")
    return folder


def _add_control_parsers(sub: Any) -> None:
    ps = sub.add_parser("ps", help="list running trainers", description="List the trainers running now.")
    _sessions_arg(ps)
    ps.add_argument("--all", action="store_true", help="also list sessions whose trainer died or failed")
    ps.add_argument("--json", action="store_true", help="machine-readable output")

    pa = sub.add_parser("pause", help="pause a running trainer", description="Pause a running trainer after its current step.")
    pa.add_argument("name", help="session name")
    _sessions_arg(pa)

    st = sub.add_parser("stop", help="checkpoint and stop a running trainer",
                        description="Save a checkpoint, then end the trainer's run; waits until it has exited.")
    st.add_argument("name", help="session name")
    _sessions_arg(st)
    st.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for it to exit (default %(default)s)")

    at = sub.add_parser("attach", help="watch a session's training", description="Open the terminal UI on a session, "
                        "following its trainer live with full control (d detaches, the training goes on); with "
                        "--headless or without a terminal, print its progress lines instead (Ctrl-C detaches).")
    at.add_argument("name", help="session name")
    _sessions_arg(at)
    at.add_argument("--headless", action="store_true", help="print progress lines instead of opening the terminal UI")



def _add_inspect_parsers(sub: Any) -> None:
    sd = sub.add_parser("studio", help="generate, probe and score text in the terminal UI",
                        description="Open the sample studio on a session: generate with any settings and "
                                    "checkpoint, see the next-character distribution, score a passage.")
    sd.add_argument("name", help="session name")
    _sessions_arg(sd)
    sd.add_argument("--checkpoint", default="latest", help="latest, best or a step number (default %(default)s)")
    sd.add_argument("--device", default="cpu",
                    help="where the studio runs the model: cpu, auto, cuda, cuda:N or mps (default %(default)s: "
                         "it leaves the accelerator to training)")
    _precision_arg(sd)

    pr = sub.add_parser("probe", help="the model's next-character probabilities after a prime",
                        description="Show the characters the model expects after a prime text, most likely first "
                                    "(the prime is fed from a zero hidden state).")
    pr.add_argument("name", help="session name")
    _sessions_arg(pr)
    primes = pr.add_mutually_exclusive_group(required=True)
    primes.add_argument("--prime", help="the text before the character to predict")
    primes.add_argument("--prime-file", metavar="FILE",
                        help="the text of FILE before the character to predict (UTF-8, CRLF -> LF; - for standard input)")
    pr.add_argument("--checkpoint", default="latest", help="latest, best or a step number (default %(default)s)")
    pr.add_argument("--top", type=int, default=10, help="characters to show (default %(default)s)")
    _model_args(pr)
    pr.add_argument("--json", action="store_true", help="JSON with the top characters and the full distribution")

    sc = sub.add_parser("score", help="bits per character of a text under a session's model",
                        description="Score a text file under a session's model. " + SCORE_DEFINITION +
                                    " The file is read like a corpus: UTF-8, CRLF -> LF unless --keep-crlf.")
    sc.add_argument("name", help="session name")
    sc.add_argument("file", help="a text file, or - for standard input")
    _sessions_arg(sc)
    sc.add_argument("--checkpoint", default="latest", help="latest, best or a step number (default %(default)s)")
    _model_args(sc)
    sc.add_argument("--skip-unknown", action="store_true",
                    help="drop characters the model never saw (with a note) instead of refusing the text")
    sc.add_argument("--keep-crlf", action="store_true", help="keep CRLF line endings instead of turning them into LF")
    sc.add_argument("--encoding", default="utf-8", help="text encoding of the file (default %(default)s)")
    sc.add_argument("--json", action="store_true", help="machine-readable output")


SERVE_DESCRIPTION = """Serve the workbench's terminal UI to a web browser (textual-serve, the [web] extra). Each
browser tab runs its own app, a viewer like a terminal: closing a tab never stops training, and
several tabs can watch one run.

By default it listens on 127.0.0.1 only: open the printed URL on this machine, or from a laptop
through an SSH tunnel (ssh -L 8000:localhost:8000 HOST, then http://localhost:8000/). Any
other --host (0, 0.0.0.0, :: or any spelling of them: every address) requires a token made
fresh at each start (--token requires it on loopback too): the printed URL carries it, and a
request for the page or its websocket without it is refused.

What the token protects: nobody without the URL can open the app (which acts with your rights:
it starts, stops and deletes training). What it does not: the connection is plain HTTP, not
encrypted, so the token and everything on screen can be read on the network; use the SSH
tunnel or a TLS proxy for that. Without a token, any user of this machine can connect to the
loopback port. Pages of other sites are refused either way.

What else is refused, and why:
  * a tab past --max-viewers: each tab is an app process (about 25 MB), so tabs without limit
    would fill the machine's memory; the page says the limit was reached (close a tab, then
    Restart). Refused requests (no token, another site) never count.
  * a tab whose browser has answered nothing, not even the pings sent to it, for 30 s (a
    laptop asleep, a network gone): it is dropped and its app closes, freeing its place.
  * a plain GET of /ws, the page's websocket, that does not ask for a websocket: 400."""


def _add_web_parsers(sub: Any) -> None:
    ex = sub.add_parser("export", help="a session's metrics as CSV, or its metrics and samples for TensorBoard",
                        description="Export a session's history: its metrics as CSV (one row per logged step), "
                                    "and/or its scalars and samples as TensorBoard event files in DIR/NAME "
                                    "(appending only steps not already there, so re-running it adds nothing twice).")
    ex.add_argument("name", help="session name")
    _sessions_arg(ex)
    ex.add_argument("--csv", metavar="FILE", help="write the metrics as CSV to FILE (- for standard output)")
    ex.add_argument("--tensorboard", metavar="DIR",
                    help="write TensorBoard event files into DIR/NAME (view with tensorboard --logdir DIR; "
                         "needs the [tensorboard] extra)")
    sv = sub.add_parser("serve", help="the workbench in a web browser", description=SERVE_DESCRIPTION,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sv.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (default %(default)s: this machine only; any other needs the token)")
    sv.add_argument("--port", type=int, default=8000, help="port to listen on, 0 for any free one (default %(default)s)")
    sv.add_argument("--token", action="store_true", help="require the token on loopback too (a machine shared with others)")
    sv.add_argument("--max-viewers", type=int, default=8, metavar="N",
                    help="browser tabs at once, each an app process; the next is turned away (default %(default)s)")
    # Seconds of silence before a tab is dropped; hidden: the tests shorten it, users need not.
    sv.add_argument("--quiet-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    _sessions_arg(sv)
