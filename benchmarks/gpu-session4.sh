#!/usr/bin/env bash
# Session 4 on one GPU machine (run through the `device` tool from the repo root, carrying
# dist/gta.xz (--features cuda), dist/gta-fusion.xz (--features cuda-fusion-only),
# dist/libmujoco.so.3.17.0 and dist/gpu-cache-h100.tar.xz).
# Usage: bash benchmarks/gpu-session4.sh PART...   (parts below; output in $OUT/log.txt)
source "$(dirname "$0")/gpu-common.sh"
TD3_STEPS=${TD3_STEPS:-300000}
for part in "$@"; do
  stamp "== $part"
  case $part in
    data-bg) # CPU only: the halfcheetah-medium recipe, 1M transitions, in the background
      setsid nohup $G data make halfcheetah-medium --out /tmp/hc-medium.hdf5 > /tmp/data-make.log 2>&1 < /dev/null & ;;
    aug-scale) # generated transitions/s against the number of windows per batch
      for b in ${AUG_BATCHES:-1000 4000 10000}; do
        timeout 240 $G bench augment --device cuda --batch $b --batches 1 --json | tail -1
      done ;;
    rl-bench) for bin in $G $GF; do timeout 120 $bin bench rl --algo td3bc --device cuda --warmup 5 --steps 500 --json | tail -1; done ;;
    rl-profile)
      for bin in $G $GF; do
        CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/prof-$(basename $bin).log timeout 120 $bin bench rl --algo td3bc --device cuda --warmup 2 --steps 20 --json | tail -1
        python3 benchmarks/profile-summary.py /tmp/prof-$(basename $bin).log | tee "$OUT/rl-profile-$(basename $bin).txt" | head -30
      done ;;
    td3-start) # waits for data-bg, then trains TD3+BC (fusion build) in the background
      while ! grep -q "wrote\|error\|Error" /tmp/data-make.log 2>/dev/null; do sleep 5; done; tail -3 /tmp/data-make.log
      $G data info /tmp/hc-medium.hdf5 | tail -8
      setsid nohup $GF rl train --algo td3bc --dataset /tmp/hc-medium.hdf5 --env halfcheetah-medium-v2 \
        --out /tmp/td3-hc --steps $TD3_STEPS --eval-every 10000 --device cuda --seed 0 > /tmp/td3-hc.log 2>&1 < /dev/null &
      sleep 60; tail -c 400 /tmp/td3-hc.log; echo ;;
    td3-status) tail -c 600 /tmp/td3-hc.log; echo; cp /tmp/td3-hc/metrics.csv "$OUT/td3-hc-metrics.csv" 2>/dev/null
      cp /tmp/td3-hc/config.toml "$OUT/td3-hc-config.toml" 2>/dev/null; cut -d, -f1-8 /tmp/td3-hc/metrics.csv | tail -5 ;;
    rl-ab) # fused Adam/Polyak (default) against burn's composite Adam (GTA_COMPOSITE_ADAM=1), plain build
      for a in td3bc iql cql; do
        timeout 150 $G bench rl --algo $a --device cuda --warmup 5 --steps ${RL_STEPS:-300} --json | tail -1
        GTA_COMPOSITE_ADAM=1 timeout 150 $G bench rl --algo $a --device cuda --warmup 5 --steps ${RL_STEPS:-300} --json | tail -1
      done
      timeout 150 $GF bench rl --algo td3bc --device cuda --warmup 5 --steps ${RL_STEPS:-300} --json | tail -1
      GTA_COMPOSITE_ADAM=1 timeout 150 $GF bench rl --algo td3bc --device cuda --warmup 5 --steps ${RL_STEPS:-300} --json | tail -1 ;;
    diff-ab) for i in 1 2; do
        timeout 200 $G bench diffusion-train --device cuda --warmup 2 --steps 10 --json | tail -1
        GTA_COMPOSITE_ADAM=1 timeout 200 $G bench diffusion-train --device cuda --warmup 2 --steps 10 --json | tail -1
      done ;;
    export) $G gpu export /tmp/cache-out.tar && xz -T8 -6 -c /tmp/cache-out.tar > "$OUT/gpu-cache.tar.xz"; ls -la "$OUT" ;;
    aug-bf16) timeout 200 $G bench augment --device cuda --batch 1000 --batches 1 --json | tail -1
      timeout 200 $G bench augment --device cuda --batch 1000 --batches 1 --float-dtype bf16 --json | tail -1 ;;
    selftest) timeout 120 $G gpu selftest --device cuda ;;
    fused-ab) # the fused LayerNorm (short and long rows) and bias+GELU kernels against subsets of them
      for k in 1 short-ln short-ln,gelu 1; do
        GTA_FUSED_KERNELS=$k timeout 150 $G bench diffusion-train --device cuda --warmup 2 --steps 20 --json | tail -1 | sed "s/^/kernels=$k /"
      done
      for k in 1 short-ln; do
        GTA_FUSED_KERNELS=$k timeout 150 $G bench augment --device cuda --batch 1000 --batches 1 --json | tail -1 | sed "s/^/kernels=$k /"
      done ;;
    splitk-ab) # (a build with split-K Linear weight gradients, since removed) two-stage column sums, split-K on/off
      for k in 1 short-ln,long-ln,gelu 1; do
        GTA_FUSED_KERNELS=$k timeout 150 $G bench diffusion-train --device cuda --warmup 2 --steps 20 --json | tail -1 | sed "s/^/kernels=$k /"
      done
      timeout 150 $G bench augment --device cuda --batch 1000 --batches 1 --json | tail -1 ;;
    matmul-routines) # untuned matmul routine A/B (patches/README.md, GTA_MATMUL_ROUTINE); not run in session 4
      for r in auto double-cyclic double-tma specialized-tma ordered-double tiled; do
        GTA_MATMUL_ROUTINE=$r timeout 200 $G bench diffusion-train --device cuda --warmup 2 --steps 20 --json | tail -1 | sed "s/^/routine=$r /"
      done ;;
    wait) sleep ${WAIT_S:-500} ;;
    *) echo "unknown part $part" ;;
  esac
  stamp "rc=$? after $part"
done
