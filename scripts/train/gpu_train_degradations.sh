#!/usr/bin/env bash
# One GPU lease: degradation-aware, noise-robust edsr-lite weights (binning and Gaussian PSFs of sigma 1
# and 2 HR px, at x2 and x4) fine-tuned from the shipped bicubic edsr-lite, and the espcn binning weights
# continued with a larger batch; all runs side by side on one GPU, each sized by a step-time trial so that
# its cosine schedule ends inside BUDGET seconds. Then the GPU pipeline's speed (perf --device cuda) and
# the CUDA checks (scripts/measure/gpu_check.py). Everything comes back as $OUT/runs.tar and text files.
#
# Data (carried; .gpu is ignored by git): .gpu/sr_y/train = T91 + BSD200 as 8-bit BT.601 luma PNGs
# (scripts/train/pack_training_data.py; read with --channel raw, the same luma rounded to integers) and
# .gpu/real = the files of ../shared/data/real that napari_superres.realdata.training_planes reads (the
# validation split left out), TIFFs recompressed losslessly (deflate: the GPU image lacks imagecodecs) (same planes, checked). The training flags are
# those of scripts/train/train_degradations.sh (noise auto, gain), on the GPU with batch 32, LR patch 48.
# .gpu/sr_y/train holds T91 and every other BSD200 image (the upload limit: 64 MiB with the repository).
# Wheels for what the GPU image lacks (dask, partd, locket) travel in .whl; zarr does not fit beside the
# data, so perf measures the raw forward, the tiled forward and the in-memory pipeline.
set -u
T0=$(date +%s)
BUDGET=${BUDGET:-400}
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
R=/tmp/runs
mkdir -p $R
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, numpy, dask; print('torch', torch.__version__, 'numpy', numpy.__version__, 'dask', dask.__version__, torch.cuda.is_available())"
# name  arch  scale  degradation  batch  lr
JOBS="edsr-lite_x2_binning edsr-lite 2 binning 32 3e-4
edsr-lite_x2_gaussian_s1 edsr-lite 2 gaussian:1 32 3e-4
edsr-lite_x2_gaussian_s2 edsr-lite 2 gaussian:2 32 3e-4
edsr-lite_x4_binning edsr-lite 4 binning 32 3e-4
edsr-lite_x4_gaussian_s1 edsr-lite 4 gaussian:1 32 3e-4
edsr-lite_x4_gaussian_s2 edsr-lite 4 gaussian:2 32 3e-4
espcn_x2_binning espcn 2 binning 64 1e-4
espcn_x4_binning espcn 4 binning 64 1e-4"
while read -r name arch s deg batch lr; do
  python3 scripts/measure/step_time.py "$arch" "$s" "$batch" 48 cuda > "$R/trial_$name.txt" &
done <<< "$JOBS"
wait
while read -r name arch s deg batch lr; do
  t=$(cat "$R/trial_$name.txt")
  init=napari_superres/models/weights/${arch}_x${s}.safetensors
  [ "$arch" = espcn ] && init=napari_superres/models/weights/${name}.safetensors
  # the trial leaves out batch sampling and validation, and all runs share the GPU: 0.5 of the trial's rate
  steps=$(python3 -c "print(max(200, int(($BUDGET - ($(date +%s) - $T0) - 40) / $t * 0.5) // 100 * 100))")
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
for m in ${PERF_MODELS-default edsr-lite}; do
  timeout 60 python3 -m napari_superres perf --device cuda --model $m --size 4096 --stages raw,raw-tiles,memory 2>&1 | tee -a "$OUT/perf.txt"
done
[ -n "${PERF_MODELS-x}" ] && timeout 40 python3 scripts/measure/gpu_check.py 2>&1 | tee "$OUT/gpu_check.txt"
for n in $R/*.safetensors; do rm -f "${n%.safetensors}.ckpt"; done  # finished runs: the weights suffice
tar -C $R -cf "$OUT/runs.tar" --exclude='*.ckpt' .
ls $R/*.ckpt >/dev/null 2>&1 && tar -C $R -cf "$OUT/ckpt.tar" $(cd $R && ls *.ckpt)  # unfinished runs
echo "elapsed $(($(date +%s) - T0)) s"
