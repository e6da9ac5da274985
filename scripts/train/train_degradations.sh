#!/usr/bin/env bash
# Degradation-aware, noise-robust weights: binning, a Gaussian-PSF family (sigma 0.5-2 HR px, then
# binning) and bicubic, at x2 and x4, fine-tuned from the shipped bicubic weights on T91 + BSD200
# luma plus the real images less their validation split (napari_superres/realdata.py), with
# Poisson-Gaussian noise and a brightness gain on the LR patches. Checkpoints outside the
# repository; rerun to resume. JOBS="2:binning 4:gaussian" picks some.
#   bash scripts/train/train_degradations.sh [ARCH] [STEPS]     (ARCH: espcn or edsr-lite)
set -euo pipefail
ARCH=${1:-espcn}
STEPS=${2:-5000}
SR=${SR:-../shared/data/sr}
REAL=${REAL:-../shared/data/real}
RUNS=${RUNS:-$HOME/.cache/napari-superres-runs}
LR=${LR:-5e-4}
mkdir -p "$RUNS"
GAUSS="--degradation gaussian:0.5 --degradation gaussian:0.75 --degradation gaussian:1.0 --degradation gaussian:1.25 --degradation gaussian:1.5 --degradation gaussian:2.0"
for job in ${JOBS:-2:binning 2:gaussian 4:binning 4:gaussian 2:bicubic 4:bicubic}; do
    scale=${job%%:*}
    fam=${job#*:}
    out="$RUNS/${ARCH}_x${scale}_${fam}.safetensors"
    [ -f "$out" ] && { echo "done: $out"; continue; }
    if [ "$fam" = gaussian ]; then degs=$GAUSS; else degs="--degradation $fam"; fi
    # shellcheck disable=SC2086
    napari-superres train "$SR/T91" "$SR/BSD200" --real "$REAL" --init "$ARCH" --scale "$scale" \
      --steps "$STEPS" --lr "$LR" --batch-size 16 --patch-size 32 --val-every 1000 --checkpoint-every 500 \
      $degs --noise auto --gain --checkpoint "$out.ckpt" --out "$out" \
      --describe-data "T91 + BSD200 luma (every 20th image held out)" 2>&1 | tee -a "$RUNS/${ARCH}_x${scale}_${fam}.log"
done
