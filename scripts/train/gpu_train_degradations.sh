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
source scripts/train/gpu_lease.sh
gpu_setup
python3 -c "import torch, numpy, dask; print('torch', torch.__version__, 'numpy', numpy.__version__, 'dask', dask.__version__, torch.cuda.is_available())"
W=napari_superres/models/weights
# name  arch  scale  degradation  batch  lr  init (edsr-lite from its bicubic weights; espcn continues its own)
JOBS="edsr-lite_x2_binning edsr-lite 2 binning 32 3e-4 $W/edsr-lite_x2.safetensors
edsr-lite_x2_gaussian_s1 edsr-lite 2 gaussian:1 32 3e-4 $W/edsr-lite_x2.safetensors
edsr-lite_x2_gaussian_s2 edsr-lite 2 gaussian:2 32 3e-4 $W/edsr-lite_x2.safetensors
edsr-lite_x4_binning edsr-lite 4 binning 32 3e-4 $W/edsr-lite_x4.safetensors
edsr-lite_x4_gaussian_s1 edsr-lite 4 gaussian:1 32 3e-4 $W/edsr-lite_x4.safetensors
edsr-lite_x4_gaussian_s2 edsr-lite 4 gaussian:2 32 3e-4 $W/edsr-lite_x4.safetensors
espcn_x2_binning espcn 2 binning 64 1e-4 $W/espcn_x2_binning.safetensors
espcn_x4_binning espcn 4 binning 64 1e-4 $W/espcn_x4_binning.safetensors"
gpu_train_jobs 0.5
for m in ${PERF_MODELS-default edsr-lite}; do
  timeout 60 python3 -m napari_superres perf --device cuda --model $m --size 4096 --stages raw,raw-tiles,memory 2>&1 | tee -a "$OUT/perf.txt"
done
[ -n "${PERF_MODELS-x}" ] && timeout 40 python3 scripts/measure/gpu_check.py 2>&1 | tee "$OUT/gpu_check.txt"
gpu_pack_runs
