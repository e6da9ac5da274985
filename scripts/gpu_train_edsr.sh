#!/usr/bin/env bash
# Continue the shipped edsr-lite x2 and x4 weights on one GPU, both runs in parallel, each sized so that
# its cosine schedule ends inside BUDGET seconds (the step time is measured first, both runs beside each
# other). Data: lossless WebP copies of T91 + BSD200 (scripts/pack_webp.py; the same RGB, so the same
# luma as the CPU runs). Results (weights, checkpoints, logs) are written straight into $OUT, so an
# interrupted run still leaves its last checkpoint there; the same command resumes from it.
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
T0=$(date +%s)
BUDGET=${BUDGET:-480}
DATA=${DATA:-.gpu/data}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-64}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null
python3 -c "import torch, numpy; print('torch', torch.__version__, 'numpy', numpy.__version__, torch.cuda.is_available())"
for s in 2 4; do python3 scripts/step_time.py edsr-lite $s "$BATCH" 48 "$DEVICE" > "$OUT/trial_x$s.txt" & done
wait
for s in 2 4; do
  t=$(cat "$OUT/trial_x$s.txt")
  lr=$([ $s = 2 ] && echo "${LR2:-3e-4}" || echo "${LR4:-4e-4}")  # x4 had 1 000 CPU steps, x2 7 000
  steps=$(python3 -c "print(max(100, int(($BUDGET - ($(date +%s) - $T0) - 45) / $t * 0.85) // 100 * 100))")
  echo "x$s: $t s a step beside the other run -> $steps steps"
  timeout $((BUDGET + 20 - ($(date +%s) - T0))) python3 -m napari_superres train "$DATA/T91" "$DATA/BSD200" \
    --init "napari_superres/models/weights/edsr-lite_x$s.safetensors" --scale $s --steps "$steps" \
    --batch-size "$BATCH" --patch-size 48 --lr "$lr" --device "$DEVICE" \
    --out "$OUT/edsr-lite_x$s.safetensors" --checkpoint "$OUT/edsr-lite_x$s.ckpt" --checkpoint-every 500 \
    --val-every 1000 --describe-data "T91 + BSD200 (291 images), luma" > "$OUT/log_x$s.txt" 2>&1 &
done
wait
tail -n 4 "$OUT"/log_x*.txt
echo "elapsed $(($(date +%s) - T0)) s"
