# Sourced by the GPU lease scripts (gpu_train_degradations.sh, gpu_train_noise_x3.sh): set up the GPU
# machine, size each training job to the lease's time budget by a step-time trial, run the jobs side by
# side on one GPU, and pack the results into $OUT. Data, wheels and flags: gpu_train_degradations.sh's header.
#
# JOBS: one line per run, "name arch scale degradation batch lr init" (init: the weights to start from).
set -u
T0=$(date +%s)
BUDGET=${BUDGET:-400}
R=/tmp/runs

gpu_setup() {
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
  mkdir -p $R
  nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
}

# gpu_train_jobs FRACTION: each job runs for the steps FRACTION of its trial's rate allows in the budget
# (the trial leaves out batch sampling and validation, and all runs share the GPU)
gpu_train_jobs() {
  local fraction=$1 name arch s deg batch lr init t steps
  while read -r name arch s deg batch lr init; do
    python3 scripts/measure/step_time.py "$arch" "$s" "$batch" 48 cuda > "$R/trial_$name.txt" &
  done <<< "$JOBS"
  wait
  while read -r name arch s deg batch lr init; do
    t=$(cat "$R/trial_$name.txt")
    steps=$(python3 -c "print(max(200, int(($BUDGET - ($(date +%s) - $T0) - 40) / $t * $fraction) // 100 * 100))")
    echo "$name: trial $t s a step -> $steps steps"
    timeout $((BUDGET + 15 - ($(date +%s) - T0))) python3 -m napari_superres train .gpu/sr_y/train \
      --channel raw --real .gpu/real --init "$init" --scale "$s" --steps "$steps" --batch-size "$batch" \
      --patch-size 48 --lr "$lr" --degradation "$deg" --noise auto --gain --device cuda \
      --val-every 1000 --checkpoint-every 500 --out "$R/$name.safetensors" --checkpoint "$R/$name.ckpt" \
      --describe-data "T91 + BSD200 8-bit luma (every 20th image held out)" > "$R/log_$name.txt" 2>&1 &
  done <<< "$JOBS"
  wait
  for f in $R/log_*.txt; do echo "== $f"; tail -n 3 "$f"; done
  echo "training done at $(($(date +%s) - T0)) s"
}

# the finished runs' weights and logs as $OUT/runs.tar; unfinished runs' checkpoints as $OUT/ckpt.tar
gpu_pack_runs() {
  for n in $R/*.safetensors; do rm -f "${n%.safetensors}.ckpt"; done  # finished runs: the weights suffice
  tar -C $R -cf "$OUT/runs.tar" --exclude='*.ckpt' .
  ls $R/*.ckpt >/dev/null 2>&1 && tar -C $R -cf "$OUT/ckpt.tar" $(cd $R && ls *.ckpt)  # unfinished runs
  echo "elapsed $(($(date +%s) - T0)) s"
}
