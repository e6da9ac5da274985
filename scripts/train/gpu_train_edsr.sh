#!/usr/bin/env bash
# Continue the shipped edsr-lite x2 and x4 weights on one GPU, both runs in parallel, each sized so that
# its cosine schedule ends inside BUDGET seconds (the step time is measured first, both runs beside each
# other). Data: lossless WebP copies of T91 + BSD200 (scripts/train/pack_webp.py; the same RGB, so the same
# luma as the CPU runs). Results (weights, checkpoints every 500 steps, logs) are written straight into
# $OUT, so a run stopped by the time limit still leaves its last checkpoint there (the x2 of this release
# is such a checkpoint; scripts/measure/eval_checkpoint.py scores one).
# Settings (environment): BUDGET seconds, INIT_DIR (weights to start from; default the shipped ones),
# LR2 / LR4 (peak learning rates), BATCH, DATA, DEVICE. The runs of this release: BUDGET=510, then
# INIT_DIR=<run 1's weights> LR2=1.5e-4 LR4=2e-4 BUDGET=320 (docs/training.md).
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
T0=$(date +%s)
BUDGET=${BUDGET:-480}
DATA=${DATA:-.gpu/data}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-64}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, torch.cuda.is_available())"
for s in 2 4; do python3 scripts/measure/step_time.py edsr-lite $s "$BATCH" 48 "$DEVICE" > "$OUT/trial_x$s.txt" & done
wait
# the runs share the GPU, and the trial leaves out batch sampling and validation: in a run of 320 s the
# real steps took 1.33x the trial's time (1.05x in a run of 510 s), hence the slower trial for both and 0.7
t=$(sort -g "$OUT"/trial_x*.txt | tail -n 1)
for s in 2 4; do
  lr=$([ $s = 2 ] && echo "${LR2:-3e-4}" || echo "${LR4:-4e-4}")  # x4 had 1 000 CPU steps, x2 7 000
  steps=$(python3 -c "print(max(100, int(($BUDGET - ($(date +%s) - $T0) - 45) / $t * 0.7) // 100 * 100))")
  echo "x$s: $t s a step (the slower trial) -> $steps steps"
  timeout $((BUDGET + 20 - ($(date +%s) - T0))) python3 -m napari_superres train "$DATA/T91" "$DATA/BSD200" \
    --init "${INIT_DIR:-napari_superres/models/weights}/edsr-lite_x$s.safetensors" --scale $s --steps "$steps" \
    --batch-size "$BATCH" --patch-size 48 --lr "$lr" --device "$DEVICE" \
    --out "$OUT/edsr-lite_x$s.safetensors" --checkpoint "$OUT/edsr-lite_x$s.ckpt" --checkpoint-every 500 \
    --val-every 1000 --describe-data "T91 + BSD200 (291 images), luma" > "$OUT/log_x$s.txt" 2>&1 &
done
wait
tail -n 4 "$OUT"/log_x*.txt
echo "elapsed $(($(date +%s) - T0)) s"
