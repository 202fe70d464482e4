#!/usr/bin/env bash
# One pass of every GPU check (at most 9 minutes on one H100/H200, most important first): smoke sweeps with and without --fuse,
# bench.perf and bench.speed_fused on CUDA, and the standard suite's projected wall time at several
# worker counts. Each stage has its own time limit and a failure does not stop the next one.
#   OUT=/tmp/gpu bash bench/gpu_check.sh        (logs land in $OUT)
# The text task needs WikiText-2 under $RNNBENCH_DATA/wikitext-2/ on a machine without internet.
set -u
OUT=${OUT:-/tmp/rnnbench-gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 RNNBENCH_CACHE=${RNNBENCH_CACHE:-/tmp/rnnbench-cache}
PY=${PYTHON:-python3}
stage() {  # stage NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  echo "=== $name ($(date +%T), limit ${limit}s): $*"
  local t0=$SECONDS
  timeout "$limit" "$@" 2>&1 | tee "$OUT/$name.log" | grep -v "^\[" | tail -40
  echo "=== $name: rc ${PIPESTATUS[0]}, $((SECONDS - t0)) s"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$PY -c "import torch, lightning, torchmetrics, pandas; print('torch', torch.__version__, 'lightning', lightning.__version__, 'cuda', torch.cuda.is_available())"
W=${WORKERS:-8}
stage smoke_unfused 75 $PY -m bench run --suite quick --tasks adding --out /tmp/r_unfused --workers "$W" --no-leaderboard --quiet
stage smoke_fused 75 $PY -m bench run --suite quick --tasks adding --out /tmp/r_fused --workers "$W" --fuse --no-leaderboard --quiet
stage smoke_compare 20 $PY - <<'EOF'
import json, pathlib
def load(d):
    return {json.loads(p.read_text())["run_id"]: json.loads(p.read_text()) for p in pathlib.Path(d).glob("runs/*/result.json")}
a, b = load("/tmp/r_unfused"), load("/tmp/r_fused")
print(len(a), "unfused,", len(b), "fused records;", sum(r.get("fused_k", 1) > 1 for r in b.values()), "trained fused;",
      "devices:", {r["device"] for r in a.values()})
for rid, r in sorted(a.items(), key=lambda kv: kv[1]["combo"]):
    f = b.get(rid, {})
    print(f"{r['task_label']:<30} {r['combo']:<60} {r['status']:<8} {f.get('status')!s:<8} k={f.get('fused_k', 1)} "
          f"score {r['normalized_score']} vs {f.get('normalized_score')}  err {r['error'] or f.get('error') or ''}"[:240])
EOF
size() {  # size WORKERS [--fuse]
  stage "size_w$1${2:+_fused}" 120 $PY -m bench.size --suite standard --jobs ${JOBS:-16} --steps 100 200 --workers "$@"
}
size "$W" --fuse
size "$W"
stage perf_cuda 120 $PY -m bench.perf --quick --device cuda
stage speed_fused 60 $PY -m bench.speed_fused --device cuda --repeats 5
size $((2 * W)) --fuse
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
