#!/usr/bin/env bash
# The GPU check of workbench, in one short call (about 3-6 minutes, never more than ~8) on a
# machine with a CUDA GPU and a fresh checkout:
#
#     bash bench/gpu_check.sh            # from anywhere; logs to $OUT when set, else a temp folder
#
# It installs the project into a throw-away venv that sees the machine's own torch (CUDA
# build assumed preinstalled; nothing is downloaded when the packages are there), runs the
# device-relevant tests, trains on cuda in fp32 and bf16, resumes, samples the GPU-trained
# session on the CPU, and runs `workbench bench --device "$DEVICE"` at the notebook's config and a
# larger one (against ../shared/bench/seed_baseline.py when it is there) and its sampling figure (one
# stream with and without the CUDA graph, a batch of 64). summary.txt lists
# every step with its exit status; the script exits non-zero if any step failed.
#
# A rehearsal on a machine without a GPU (every step, on the CPU, to catch a broken command
# before spending device time): GPU_CHECK_DEVICE=cpu PYTHON=/path/to/venv/bin/python bash bench/gpu_check.sh
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-$(mktemp -d -t workbench-gpu-XXXXXX)}"
mkdir -p "$OUT"
WORK="$(mktemp -d -t workbench-gpu-work-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
PY="${PYTHON:-python3}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
# On the GPU: 300 training steps, resumed to 350, benches of 50 steps. A CPU rehearsal runs the
# same commands with fewer steps so that it ends inside the same limits.
if [ "$DEVICE" = cuda ]; then TRAIN=300 RESUME=350 BENCH=50; else TRAIN=20 RESUME=30 BENCH=5; fi
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
DEADLINE=$((SECONDS + ${GPU_CHECK_SECONDS:-450}))  # every step's limit is cut to fit this
FAILED=0
echo "workbench GPU check: logs in $OUT"

step() {  # step NAME LIMIT_SECONDS COMMAND...: run with a time limit, log, record the status
  local name=$1 limit=$2
  shift 2
  local left=$((DEADLINE - SECONDS))
  if [ "$left" -lt 20 ]; then
    printf '%-24s SKIPPED (out of time)\n' "$name" | tee -a "$SUMMARY"
    FAILED=1
    return 1
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  echo "=== $name (limit ${limit}s): $*"
  local t0=$SECONDS
  timeout --signal=INT --kill-after=15 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 15 "$OUT/$name.log"
  printf '%-24s rc=%-4s %4ss\n' "$name" "$rc" "$((SECONDS - t0))" | tee -a "$SUMMARY"
  [ "$rc" -eq 0 ] || FAILED=1
  return "$rc"
}

# -- the machine ------------------------------------------------------------------------------
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
if ! step env 90 "$PY" -c "
import sys, torch
print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)
if '$DEVICE' == 'cuda':
    assert torch.cuda.is_available(), 'torch sees no CUDA GPU'
    print(torch.cuda.get_device_name(0), torch.cuda.get_device_properties(0).total_memory // 2**30, 'GiB')
else:
    print('rehearsal on $DEVICE')
"; then
  echo "no usable CUDA torch here: nothing more to check"
  exit 1
fi

# -- install ----------------------------------------------------------------------------------
# An editable install into a venv that sees the system torch; --no-build-isolation so that
# nothing is fetched. If that is impossible (no venv module, old setuptools), run from a copy
# of the package tree laid out as setuptools would install it.
VENV="$WORK/venv"
if "$PY" -m venv --system-site-packages "$VENV" > "$OUT/install.log" 2>&1 &&
   "$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e . >> "$OUT/install.log" 2>&1 &&
   "$VENV/bin/python" -c "import torch, workbench.models" >> "$OUT/install.log" 2>&1; then
  RUN="$VENV/bin/python"
  echo "installed: pip install -e . --no-deps into $VENV" | tee -a "$SUMMARY"
else
  echo "pip install failed (see install.log): running from a copy of the package tree" | tee -a "$SUMMARY"
  mkdir -p "$WORK/pkg"
  cp -rL workbench "$WORK/pkg/"  # -L: workbench/models and workbench/corpora are links to the top-level folders
  export PYTHONPATH="$WORK/pkg${PYTHONPATH:+:$PYTHONPATH}"
  RUN="$PY"
fi
for module in numpy pytest textual; do
  if ! "$RUN" -c "import $module" 2> /dev/null; then
    "$RUN" -m pip install -q --retries 0 --timeout 5 "$module" >> "$OUT/install.log" 2>&1 ||
      echo "note: $module is missing and could not be installed" | tee -a "$SUMMARY"
  fi
done
WB=("$RUN" -m workbench)
# Everything below runs from the work folder: run from the checkout, `python -m` would put the
# checkout's own workbench/ (without models/ and corpora/ mapped into it) first on sys.path.
cd "$WORK"

# -- a corpus and the baseline ------------------------------------------------------------------
CORPUS=""
for candidate in "${WORKBENCH_BENCH_CORPUS:-}" "$ROOT/../shared/corpora/anna.txt" "$ROOT/shared/corpora/anna.txt" \
                 "$ROOT/corpora/anna.txt" "$HOME/.cache/workbench/corpora/anna.txt"; do
  if [ -n "$candidate" ] && [ -f "$candidate" ]; then CORPUS=$candidate; break; fi
done
if [ -z "$CORPUS" ]; then  # offline and no anna.txt: Python's own help topics, written out as a file
  CORPUS="$WORK/python-help.txt"
  "$RUN" -c "
from workbench.engine.corpus.load import CorpusSpec, load_corpus
c = load_corpus(CorpusSpec('python-help'), progress=None)
open('$CORPUS', 'w', encoding='utf-8').write(c.decode(c.ids))"
fi
echo "corpus: $CORPUS" | tee -a "$SUMMARY"
VS=()
for candidate in "$ROOT/../shared/bench/seed_baseline.py" "$ROOT/shared/bench/seed_baseline.py"; do
  if [ -f "$candidate" ]; then VS=(--vs-seed "$candidate"); break; fi
done
[ ${#VS[@]} -gt 0 ] && echo "baseline: ${VS[1]}" | tee -a "$SUMMARY" || echo "baseline: not found, bench without ratios" | tee -a "$SUMMARY"

# -- tests that exercise devices ----------------------------------------------------------------
if "$RUN" -c "import pytest" 2> /dev/null; then
  TESTS=()
  for f in test_model.py test_batches.py test_sampling.py test_chunk_sampling.py test_checkpoint.py test_bench.py; do
    [ -f "$ROOT/tests/$f" ] && TESTS+=("$ROOT/tests/$f")
  done
  step tests 150 "$RUN" -m pytest -q -p no:cacheprovider --timeout 120 "${TESTS[@]}"
  # Any test elsewhere named for the GPU; "none collected" (status 5) is fine.
  # The terminal UI's tests need textual, which a GPU image may lack: left out then.
  IGNORE=()
  "$RUN" -c "import textual, textual_plotext" 2> /dev/null || IGNORE=(--ignore "$ROOT/tests/tui")
  step tests-named-cuda 90 bash -c '"$0" -m pytest -q -p no:cacheprovider --timeout 60 "$@" -k "cuda or gpu"; rc=$?; [ $rc -eq 5 ] && exit 0; exit $rc' \
    "$RUN" "$ROOT/tests" ${IGNORE[@]+"${IGNORE[@]}"}
else
  echo "pytest unavailable: tests skipped" | tee -a "$SUMMARY"
fi

# -- training on the GPU, then sampling that session on the CPU ------------------------------
S="$WORK/sessions"
COMMON=(--corpus "$CORPUS" --sessions-dir "$S" --device "$DEVICE" --log-every 50 --checkpoint-every 100
        --sample-every 100 --headless)
step train-cuda 120 "${WB[@]}" train "${COMMON[@]}" --session gpu-fp32 --precision fp32 --steps "$TRAIN"
step train-cuda-bf16 120 "${WB[@]}" train "${COMMON[@]}" --session gpu-bf16 --precision bf16 --steps "$TRAIN"
step resume-cuda 60 "${WB[@]}" resume gpu-fp32 --sessions-dir "$S" --steps "$RESUME" --headless
step sample-on-cpu 60 "${WB[@]}" sample gpu-fp32 --sessions-dir "$S" --device cpu --length 300 --seed 1
step sample-bf16-on-cpu 60 "${WB[@]}" sample gpu-bf16 --sessions-dir "$S" --device cpu --length 300 --seed 1
step sample-on-cuda 60 "${WB[@]}" sample gpu-fp32 --sessions-dir "$S" --device "$DEVICE" --length 300 --num 4 --json --seed 1
step sessions 30 "${WB[@]}" sessions --sessions-dir "$S"

# -- a group under torchrun (DDP): NCCL on the GPU, gloo in a CPU rehearsal --------------------
# World size 1 through the plain torchrun line (the README's), then every GPU when there are
# several (or two CPU processes in a rehearsal) through `--nproc`, resumed once.
if [ "$DEVICE" = cuda ]; then
  GPUS=$("$RUN" -c "import torch; print(torch.cuda.device_count())" 2> /dev/null || echo 1)
else
  GPUS=2
fi
step torchrun-1 120 "$RUN" -m torch.distributed.run --standalone --nproc-per-node 1 -m workbench train \
  "${COMMON[@]}" --session group-1 --steps "$TRAIN"
if [ "$GPUS" -gt 1 ]; then
  step group-all 150 "${WB[@]}" train "${COMMON[@]}" --session group-all --nproc "$GPUS" --steps "$TRAIN"
  step group-all-resume 90 "${WB[@]}" resume group-all --sessions-dir "$S" --steps "$RESUME" --headless
  step group-sessions 30 "${WB[@]}" sessions --sessions-dir "$S" --json
fi

# -- the benchmark on the GPU -----------------------------------------------------------------
step bench-512x2 180 "${WB[@]}" bench --device "$DEVICE" --steps "$BENCH" --encoding-mb 0 --corpus "$CORPUS" ${VS[@]+"${VS[@]}"} \
  --json "$OUT/bench-512x2.json"
if [ "$DEVICE" = cuda ]; then  # the baseline alone would take minutes at 1024x3 on a CPU
step bench-1024x3 150 "${WB[@]}" bench --device "$DEVICE" --steps "$BENCH" --encoding-mb 0 --corpus "$CORPUS" ${VS[@]+"${VS[@]}"} \
  --hidden 1024 --layers 3 --batch-size 256 --json "$OUT/bench-1024x3.json"
fi
# Sampling on the GPU: one stream (a CUDA graph a chunk; the same without it beside it) and a
# batch of 64 streams, at the notebook's size.
step bench-sampling 90 "${WB[@]}" bench --device "$DEVICE" --steps "$BENCH" --encoding-mb 0 --corpus "$CORPUS" \
  --sample-batch 64 --sample-chars 6400 --json "$OUT/bench-sampling.json"
step bench-512x2-bf16 90 "${WB[@]}" bench --device "$DEVICE" --precision bf16 --steps "$BENCH" --encoding-mb 0 --corpus "$CORPUS" \
  --json "$OUT/bench-512x2-bf16.json"
if [ "$GPUS" -gt 1 ]; then
  step bench-nproc 150 "${WB[@]}" bench --device "$DEVICE" --nproc "$GPUS" --steps $((BENCH < 20 ? 20 : BENCH)) \
    --corpus "$CORPUS" --json "$OUT/bench-nproc.json"
fi

echo
echo "=== summary ($((SECONDS))s)"
cat "$SUMMARY"
for log in "$OUT"/bench-*.log; do
  [ -f "$log" ] || continue
  echo
  echo "=== $(basename "$log" .log)"
  grep -v '^bench: ' "$log"
done
exit "$FAILED"
