#!/usr/bin/env bash
# The GPU checks, one prepared pass (each stage has its own time limit; a failure does not stop the next):
#   OUT=/tmp/gpu bash bench/speed/gpu_check.sh [STAGE ...]      (default: every stage, most important first)
# With a 15-minute device budget (a few minutes of it go to starting the machine), one call of at most ~9 minutes,
# carrying .devdata (WikiText-2: the size stage samples text runs; without it they try to download):
#   bash bench/speed/gpu_check.sh tests perf speed size          (stage limits 120 + 150 + 100 + 150 s)
# then at once (the machine is released after ~30 s idle), if the budget allows, `smoke fused` (90 + 75 + 20 s).
# size_fused is worth a call only once FUSION_PAYS["cuda"] admits the standard suite's sizes (H=128, B=64): until
# then no standard-suite run fuses and it repeats `size`.
# stages: tests       the test rows that run on CUDA where a GPU is (cuDNN vs the loops, the loop's own backward,
#                     the graphed recurrence, the fused kernels vs unfused runs, several steps per Lightning batch)
#         perf        rnnbench perf --device cuda (Lightning overhead and floor, remedy paths, recurrence vs chunks,
#                     graphed vs eager recurrence, GPU busy)
#         speed       rnnbench speed-fused on CUDA (fusion: stepped vs blockdiag kernels vs sequential runs)
#         size        the standard suite's projected wall time (rnnbench size) with $WORKERS workers, unfused
#         smoke       the quick suite's adding runs through the worker pool on the GPU
#         fused       the smoke with --fuse, compared run for run with the smoke's records (same results?)
#         size_fused  rnnbench size as above with --fuse
#         mps         rnnbench size under NVIDIA MPS (several worker processes share the GPU concurrently)
#         known       the known suite on the GPU, then the literature's claims checked on it (leaderboard.known)
# Every stage's whole output lands in $OUT/stages.log (one file). The text task needs WikiText-2 under $RNNBENCH_DATA/wikitext-2/ without internet.
set -u
OUT=${OUT:-/tmp/rnnbench-gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 RNNBENCH_CACHE=${RNNBENCH_CACHE:-/tmp/rnnbench-cache}
if [ -z "${RNNBENCH_DATA:-}" ] && [ -d .devdata ]; then export RNNBENCH_DATA=$PWD/.devdata; fi  # carried corpora
if [ ! -f "${RNNBENCH_DATA:-/nonexistent}/wikitext-2/train.txt" ]; then  # the size stages sample text runs too
  echo "WARNING: no \$RNNBENCH_DATA/wikitext-2/train.txt: the standard suite's text runs fail offline (size projections low)"
fi
PY=${PYTHON:-python3}
W=${WORKERS:-8}
stage() {  # stage NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(date +%T), limit ${limit}s): $*" | tee -a "$OUT/stages.log"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee -a "$OUT/stages.log" | grep -v "^\[\|Warning\|warn(" | tail -40
  echo "=== $name: rc ${PIPESTATUS[0]}, $((SECONDS - t0)) s" | tee -a "$OUT/stages.log"  # also where a long tail cuts it
}
compare() {  # compare DIR_A DIR_B: the same runs' records side by side
  $PY - "$@" <<'EOF'
import json, pathlib, sys
def load(d):
    return {r["run_id"]: r for r in (json.loads(p.read_text()) for p in pathlib.Path(d).glob("runs/*/result.json"))}
a, b = load(sys.argv[1]), load(sys.argv[2])
print(f"{len(a)} and {len(b)} records; trained fused: {sum(r.get('fused_k', 1) > 1 for r in b.values())}")
print("summed run seconds:", round(sum(r["wall_seconds"] for r in a.values()), 1), "and",
      round(sum(r["wall_seconds"] for r in b.values()), 1), "| devices:", {r["device"] for r in a.values()})
for rid, r in sorted(a.items(), key=lambda kv: kv[1]["combo"]):
    o = b.get(rid, {})
    print(f"{r['combo']:<58} {r['status']:<8} {o.get('status')!s:<8} score {r['normalized_score']} vs "
          f"{o.get('normalized_score')} {r['wall_seconds']:.1f}s vs {o.get('wall_seconds', 0):.1f}s {r['error'] or o.get('error') or ''}"[:230])
EOF
}
export -f compare
export PY
run_tests() {
  stage tests 120 $PY -m pytest -q -p no:cacheprovider tests/test_models.py tests/test_fused.py tests/test_runner.py -k cuda
}
run_perf() {
  stage perf_cuda 150 $PY -m rnnbench.bench perf --quick --device cuda
}
run_smoke() {
  stage smoke 90 $PY -m rnnbench.bench run --suite quick --tasks adding --out /tmp/r_unfused --workers "$W" --no-leaderboard --quiet
}
run_speed() {
  stage speed_fused 100 $PY -m rnnbench.bench speed-fused --device cuda --repeats 5
}
run_fused() {
  stage smoke_fused 75 $PY -m rnnbench.bench run --suite quick --tasks adding --out /tmp/r_fused --workers "$W" --fuse --no-leaderboard --quiet
  if [ -d /tmp/r_unfused ]; then  # the smoke stage's unfused runs, where it ran before
    stage fused_compare 20 bash -c 'compare "$@"' _ /tmp/r_unfused /tmp/r_fused
  fi
}
run_size() {
  stage "size_w$W" 150 $PY -m rnnbench.bench size --suite standard --jobs "${JOBS:-16}" --steps 100 200 --workers "$W"
}
run_size_fused() {
  stage "size_w${W}_fused" 120 $PY -m rnnbench.bench size --suite standard --jobs "${JOBS:-16}" --steps 100 200 --workers "$W" --fuse
}
run_mps() {
  export CUDA_MPS_PIPE_DIRECTORY=/tmp/mps-pipe CUDA_MPS_LOG_DIRECTORY=/tmp/mps-log
  mkdir -p $CUDA_MPS_PIPE_DIRECTORY $CUDA_MPS_LOG_DIRECTORY
  trap 'echo quit | nvidia-cuda-mps-control 2>/dev/null' EXIT  # the daemon must not outlive a call cut short
  if nvidia-cuda-mps-control -d && timeout 30 $PY -c "import torch; torch.zeros(1, device='cuda'); print('MPS client ok')"; then
    stage "size_w${W}_mps" 120 $PY -m rnnbench.bench size --suite standard --jobs "${JOBS:-16}" --steps 100 200 --workers "$W"
    echo quit | nvidia-cuda-mps-control
  else
    echo "MPS unavailable here"; echo quit | nvidia-cuda-mps-control 2>/dev/null
  fi
}
run_known() {
  stage known 150 $PY -m rnnbench.bench run --suite known --out /tmp/r_known --workers "$W" --no-leaderboard --quiet
  stage known_check 30 $PY -m rnnbench.bench known /tmp/r_known
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee -a "$OUT/stages.log"
for s in ${*:-tests perf speed size smoke fused size_fused mps}; do "run_$s"; done
