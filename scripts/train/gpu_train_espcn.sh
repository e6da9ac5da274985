#!/usr/bin/env bash
# Train the shipped ESPCN weights (x2, x3, x4; tanh and relu variants) on one GPU, in parallel.
# Data: .data/sr_y made by scripts/train/pack_training_data.py. Results: $OUT/weights.tgz
set -u
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
W=/tmp/w; mkdir -p $W
nvidia-smi --query-gpu=name,memory.total --format=csv
STEPS=${STEPS:-40000}
for s in 2 3 4; do for act in tanh relu; do
  timeout ${LIMIT:-470} python -m napari_superres train .data/sr_y/train --channel raw --arch espcn --act $act \
    --scale $s --steps $STEPS --batch-size 64 --patch-size 32 --val-every 4000 --checkpoint-every 2000 \
    --device cuda --out $W/espcn_${act}_x$s.safetensors \
    --describe-data "T91 + BSD200 (291 images less 14 held out for validation), BT.601 luma rounded to 8 bits" \
    > $W/log_${act}_x$s.txt 2>&1 &
done; done
wait
tail -n 3 $W/log_*.txt
tar czf $OUT/weights.tgz -C $W .
