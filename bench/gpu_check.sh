#!/usr/bin/env bash
# GPU check of backend=ray, for a machine with one NVIDIA GPU (docs/performance.md, "On a GPU").
# Two agents as Ray actors sharing the GPU (num_gpus 0.5 each) train 3 HACPO steps of
# configs/smoke.yaml with a checkpoint after each, then the run is resumed to step 4.
# Needs: pip install -e ".[ray]" with a CUDA torch. At most about 10 minutes (each run is capped).
# Prints one PASS/FAIL line per check and exits 0 only if every check passed.
#   bash bench/gpu_check.sh            (OUT=<dir> keeps the run directory there)
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1
OUT=${OUT:-$(mktemp -d)}
RUN="$OUT/gpu-ray"
failed=0
check() {  # check "<what>" <command...>
  local what=$1; shift
  if "$@"; then echo "PASS $what"; else echo "FAIL $what"; failed=1; fi
}
train() {
  timeout 280 python train/hacpo.py --config configs/smoke.yaml --backend=ray \
    --agents.0.device=cuda --agents.1.device=cuda --agents.0.num_gpus=0.5 --agents.1.num_gpus=0.5 \
    --output_dir="$OUT" --run_name=gpu-ray "$@"
}
python - <<'PY' || { echo "FAIL torch with CUDA and ray are needed"; exit 1; }
import ray, torch
assert torch.cuda.is_available(), "no CUDA device"
print(f"torch {torch.__version__}, ray {ray.__version__}, {torch.cuda.get_device_name(0)}")
PY
start=$(date +%s)
train --schedule.steps=3 > "$OUT/first.log" 2>&1
check "3 steps, two actors on one GPU (num_gpus 0.5 each)" test -f "$RUN/checkpoints/step_3/qwen2/training_state.pt"
train --resume "$RUN" --schedule.steps=4 > "$OUT/resume.log" 2>&1
check "resumed to step 4" test -f "$RUN/checkpoints/step_4/llama/training_state.pt"
python - "$RUN" <<'PY'
import json, sys
rows = {}
for line in open(f"{sys.argv[1]}/metrics.jsonl"):
    d = json.loads(line)
    rows.setdefault(d["step"], {}).update(d)
steps = sorted(rows)
mismatch = [rows[s].get(f"{a}/logp_mismatch") for s in steps[1:] for a in ("llama", "qwen2")]
print(f"steps {steps}; logp_mismatch {mismatch}; s/step {[round(rows[s].get('time/step', 0), 2) for s in steps[1:]]}")
ok = steps == [0, 1, 2, 3, 4] and all(m is None or m < 1e-3 for m in mismatch)
sys.exit(0 if ok else 1)
PY
check "metrics of steps 0-4, fp32 sampler log-probs match the learner on the GPU" test $? -eq 0
echo "took $(( $(date +%s) - start )) s; logs in $OUT"
if [ "$failed" -ne 0 ]; then tail -n 20 "$OUT/first.log" "$OUT/resume.log"; echo "GPU CHECK FAILED"; exit 1; fi
echo "GPU CHECK PASSED"
