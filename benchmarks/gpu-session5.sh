#!/usr/bin/env bash
# Session 5 on one GPU machine (run through the `device` tool from the repo root, carrying
# dist/gta.xz (--features cuda, with the cuBLAS matmul route), dist/libmujoco.so.3.17.0 and
# dist/gpu-cache-h100.tar.xz).
# Usage: bash benchmarks/gpu-session5.sh PART...   (parts below; output in $OUT/log.txt)
source "$(dirname "$0")/gpu-common.sh"
D="$G bench diffusion-train --device cuda --json"
A="$G bench augment --device cuda --batch 1000 --batches 1 --json"
for part in "$@"; do
  stamp "== $part"
  case $part in
    libs) ls /usr/local/cuda/lib64 | grep -i cublas; ls -d /opt/torch/.venv/lib/python3*/site-packages/nvidia/*/lib 2>/dev/null
      find / -name 'libcublas.so*' 2>/dev/null | head ;;
    selftest) timeout 150 $G gpu selftest --device cuda ;;
    diff-ab) # cuBLAS (default) against CubeCL's untuned matmul (GTA_CUBLAS=0)
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $D --warmup 2 --steps 20 | tail -1
        GTA_CUBLAS=0 timeout 200 $D --warmup 2 --steps 20 | tail -1
      done ;;
    thresholds) # which matmuls are worth cuBLAS' host cost (GTA_CUBLAS_MIN_FLOPS)
      for f in 0 1e8 1e9 1e10 off 0; do
        if [ $f = off ]; then GTA_CUBLAS=0 timeout 200 $D --warmup 2 --steps 20 | tail -1
        else GTA_CUBLAS_MIN_FLOPS=$f timeout 200 $D --warmup 2 --steps 20 | tail -1 | sed "s/^/min_flops=$f /"; fi
      done ;;
    batch-scale) # is the step bound by the GPU (time grows with the batch) or by launches?
      for b in 64 256 1024; do timeout 200 $D --batch $b --warmup 2 --steps 10 | tail -1; done ;;
    aug-ab) timeout 200 $A | tail -1; GTA_CUBLAS=0 timeout 200 $A | tail -1
      timeout 200 $A --float-dtype bf16 | tail -1 ;;
    clip-ab) # gradient clipping over one concatenation (dist/gta) against per-tensor (dist/gta-cublas)
      unpack gta-cublas
      for i in 1 2 3; do
        timeout 200 $D --warmup 2 --steps 20 | tail -1 | sed "s/^/concat /"
        timeout 200 dist/gta-cublas bench diffusion-train --device cuda --json --warmup 2 --steps 20 | tail -1 | sed "s/^/per-tensor /"
      done ;;
    official) # the official checkpoint's outputs through cuBLAS: true f32 (highest) and TF32 (high)
      for p in highest high; do
        timeout 200 $G --matmul-precision $p diffusion import-official dist/official_tiny.pt --obs-dim 3 \
          --act-dim 1 --out /tmp/imp-$p --check-io dist/official_tiny_io.npz --device cuda 2>&1 | tail -8
      done ;;
    ln-ab) # LayerNorm reading permuted views in place (dist/gta) against the copying version
      # (dist/gta-cublas, which also predates the concatenated gradient clipping), interleaved
      unpack gta-cublas
      for i in 1 2 3; do
        timeout 200 $D --warmup 2 --steps 20 | tail -1 | sed "s/^/strided-ln /"
        timeout 200 dist/gta-cublas bench diffusion-train --device cuda --json --warmup 2 --steps 20 | tail -1 | sed "s/^/copying-ln /"
      done
      for i in 1 2; do
        timeout 200 $A | tail -1 | sed "s/^/strided-ln /"
        timeout 200 dist/gta-cublas bench augment --device cuda --batch 1000 --batches 1 --json | tail -1 | sed "s/^/copying-ln /"
      done ;;
    im2col-ab) # the im2col gather kernels (default) against the pad/slice/cat composite, interleaved
      for i in 1 2 3; do
        timeout 200 $D --warmup 2 --steps 20 | tail -1 | sed "s/^/im2col-kernel /"
        GTA_FUSED_KERNELS=short-ln,long-ln,gelu timeout 200 $D --warmup 2 --steps 20 | tail -1 | sed "s/^/im2col-composite /"
      done
      for i in 1 2; do
        timeout 200 $A | tail -1 | sed "s/^/im2col-kernel /"
        GTA_FUSED_KERNELS=short-ln,long-ln,gelu timeout 200 $A | tail -1 | sed "s/^/im2col-composite /"
      done ;;
    e2e) # the pipeline with the session-5 kernels: data, a short diffusion run, guided and
      # unguided augmentation, data quality of both
      $G data make halfcheetah-medium --out /tmp/hc.hdf5 --transitions 200000 | tail -2
      timeout 400 $G diffusion train --dataset /tmp/hc.hdf5 --out /tmp/run --config configs/halfcheetah-medium-v2.toml \
        --steps ${E2E_STEPS:-1500} --device cuda 2>&1 | tail -3
      tail -2 /tmp/run/metrics.csv; cp /tmp/run/metrics.csv "$OUT/e2e-diffusion-metrics.csv"
      for cond in amplified unconditioned; do
        timeout 200 $G augment --model /tmp/run --out /tmp/aug-$cond.hdf5 --transitions 64000 --condition $cond \
          --device cuda --json 2>&1 | tail -1
        timeout 200 $G quality --original /tmp/hc.hdf5 --augmented /tmp/aug-$cond.hdf5 --env halfcheetah \
          --device cuda --json 2>&1 | tail -1
      done ;;
    aug-conv) # burn's direct convolutions instead of im2col GEMMs, forward only
      GTA_DIRECT_CONV=1 timeout 200 $A | tail -1 ;;
    aug-scale) for b in 250 4000; do
        timeout 200 $G bench augment --device cuda --batch $b --batches 1 --json | tail -1; done ;;
    rl-ab) for a in ${RL_ALGOS:-td3bc iql}; do
        timeout 150 $G bench rl --algo $a --device cuda --warmup 5 --steps 500 --json | tail -1
        GTA_CUBLAS=0 timeout 150 $G bench rl --algo $a --device cuda --warmup 5 --steps 500 --json | tail -1
      done ;;
    diff-bf16) timeout 200 $D --warmup 2 --steps 20 --float-dtype bf16 | tail -1 ;;
    profile) # CubeCL's kernels only (cuBLAS' are not in this log)
      CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/prof.log timeout 200 $D --warmup 1 --steps 3 | tail -1
      python3 benchmarks/profile-summary.py /tmp/prof.log | tee "$OUT/diffusion-profile-cublas.txt" | head -40 ;;
    matmul-routines) # untuned CubeCL routine A/B (patches/README.md, GTA_MATMUL_ROUTINE), with cuBLAS off
      for r in auto double-cyclic double-tma specialized-tma ordered-double tiled; do
        GTA_CUBLAS=0 GTA_MATMUL_ROUTINE=$r timeout 200 $D --warmup 2 --steps 20 | tail -1 | sed "s/^/routine=$r /"
      done ;;
    threads) # which thread is busy during training: burn's (ours) or CubeCL's server thread?
      $D --warmup 2 --steps 60 > /tmp/threads-bench.json 2>&1 & pid=$!
      sleep 12; top -H -b -n 1 -d 1 -p $pid | head -16; which perf gdb 2>/dev/null
      wait $pid; tail -1 /tmp/threads-bench.json ;;
    aug-profile) CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/aprof.log timeout 300 $A | tail -1
      python3 benchmarks/profile-summary.py /tmp/aprof.log | tee "$OUT/augment-profile-cublas.txt" | head -30 ;;
    fusion) # burn's kernel fusion (--features cuda-fusion-only), same kernels and cuBLAS route
      timeout 300 $GF bench diffusion-train --device cuda --json --warmup 3 --steps 20 | tail -1
      timeout 300 $GF bench augment --device cuda --batch 1000 --batches 1 --json | tail -1
      timeout 150 $GF bench rl --algo td3bc --device cuda --warmup 5 --steps 500 --json | tail -1 ;;
    export) $G gpu export /tmp/cache-out.tar && xz -T8 -6 -c /tmp/cache-out.tar > "$OUT/gpu-cache.tar.xz"; ls -la "$OUT" ;;
    *) echo "unknown part $part" ;;
  esac
  stamp "rc=$? after $part"
done
