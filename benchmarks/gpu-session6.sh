#!/usr/bin/env bash
# Session 6 on one GPU machine (run through the `device` tool from the repo root, carrying
# dist/gta.xz (--features cuda), dist/libmujoco.so.3.17.0 and dist/gpu-cache-h100.tar.xz).
# Usage: bash benchmarks/gpu-session6.sh PART...   (parts below; output in $OUT/log.txt)
# The kernels new in session 6 are `mixer-tail`, `softmax` and `instance-norm`; OLD names the
# session-5 set, so `GTA_FUSED_KERNELS=$OLD` is the previous build's behaviour in this binary.
source "$(dirname "$0")/gpu-common.sh"
D="$G bench diffusion-train --device cuda --json"
A="$G bench augment --device cuda --batch 1000 --batches 1 --json"
OLD=short-ln,long-ln,gelu,im2col
for part in "$@"; do
  stamp "== $part"
  case $part in
    selftest) timeout 200 $G gpu selftest --device cuda ;;
    aug-ab) # session-6 kernels on (default) against the session-5 set, interleaved
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $A | tail -1
        GTA_FUSED_KERNELS=$OLD timeout 200 $A | tail -1
      done ;;
    aug-each) # each new kernel alone on top of the session-5 set
      for k in mixer-tail softmax instance-norm; do
        GTA_FUSED_KERNELS=$OLD,$k timeout 200 $A | tail -1 | sed "s/^/+$k /"
      done ;;
    aug-bf16) timeout 200 $A --float-dtype bf16 | tail -1 ;;
    pitch-ab) # contiguous allocations (default) against upstream's pitched rows (GTA_PITCHED=1)
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $A | tail -1; GTA_PITCHED=1 timeout 200 $A | tail -1
        timeout 200 $D --warmup 2 --steps 20 | tail -1; GTA_PITCHED=1 timeout 200 $D --warmup 2 --steps 20 | tail -1
      done ;;
    aug-mixed) # mixed precision: bf16 network, f32 sampler state
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $A --network-dtype bf16 | tail -1; timeout 200 $A | tail -1
      done ;;
    diff-ab) for i in $(seq ${PAIRS:-2}); do
        timeout 200 $D --warmup 2 --steps 20 | tail -1
        GTA_FUSED_KERNELS=$OLD timeout 200 $D --warmup 2 --steps 20 | tail -1
      done ;;
    aug-profile) CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/aprof.log timeout 300 $A | tail -1
      python3 benchmarks/profile-summary.py /tmp/aprof.log | tee "$OUT/augment-profile.txt" | head -30 ;;
    profile) CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/prof.log timeout 200 $D --warmup 1 --steps 3 | tail -1
      python3 benchmarks/profile-summary.py /tmp/prof.log | tee "$OUT/diffusion-profile.txt" | head -40 ;;
    copies) # which tensors the augmentation forward copies (GTA_TRACE_COPIES, patches/README.md)
      GTA_TRACE_COPIES=1 timeout 200 $G bench augment --device cuda --batch 1000 --batches 1 --mu 0.02 --json 2>/tmp/copies.txt | tail -1
      grep gta-copy /tmp/copies.txt | sort | uniq -c | sort -rn | head -40 | tee "$OUT/copies.txt" ;;
    prev-ab) # this binary against PREV (default dist/gta-s6c3: the call-3 build), interleaved
      P=${PREV:-gta-s6c3}; unpack $P
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $A | tail -1; timeout 200 dist/$P ${A#$G } | tail -1
        timeout 200 $A --network-dtype bf16 | tail -1; timeout 200 dist/$P ${A#$G } --network-dtype bf16 | tail -1
        timeout 200 $D --warmup 2 --steps 20 | tail -1; timeout 200 dist/$P ${D#$G } --warmup 2 --steps 20 | tail -1
      done ;;
    e2e) # the pipeline with the session-6 kernels: data, a short diffusion run, then guided and
      # unguided augmentation with the f32 and the mixed-precision (bf16) network, data quality of each
      $G data make halfcheetah-medium --out /tmp/hc.hdf5 --transitions 200000 | tail -2
      timeout 400 $G diffusion train --dataset /tmp/hc.hdf5 --out /tmp/run --config configs/halfcheetah-medium-v2.toml \
        --steps ${E2E_STEPS:-1500} --device cuda 2>&1 | tail -3
      tail -2 /tmp/run/metrics.csv; cp /tmp/run/metrics.csv "$OUT/e2e-diffusion-metrics.csv"
      for cond in amplified unconditioned; do for nd in f32 bf16; do
        timeout 200 $G augment --model /tmp/run --out /tmp/aug-$cond-$nd.hdf5 --transitions 64000 --condition $cond \
          --network-dtype $nd --device cuda --json 2>&1 | tail -1 | sed "s/^/$cond $nd /"
        timeout 200 $G quality --original /tmp/hc.hdf5 --augmented /tmp/aug-$cond-$nd.hdf5 --env halfcheetah \
          --device cuda --json 2>&1 | tail -1 | sed "s/^/$cond $nd /"
      done; done ;;
    cli-rate) # the real command (sampling, splitting, HDF5 writing) at a larger size, both dtypes
      for nd in bf16 f32; do
        /usr/bin/time -f "wall %e s" timeout 300 $G augment --model /tmp/run --out /tmp/big-$nd.hdf5 \
          --transitions ${BIG:-500000} --network-dtype $nd --device cuda --json 2>&1 | tail -2 | sed "s/^/$nd /"
      done ;;
    batch-scale) for b in 64 256 1024; do timeout 200 $D --batch $b --warmup 2 --steps 10 | tail -1; done ;;
    aug-batch) # is a sampler call of 2,000 rows still GPU-bound? windows per batch 1000 / 2000 / 4000
      for nd in bf16 f32; do for b in 1000 2000 4000; do
        timeout 200 $G bench augment --device cuda --batch $b --batches 1 --json --network-dtype $nd | tail -1
      done; done ;;
    multi) # augmentation split over every GPU of the host (gta bench augment --devices), 1000 windows per GPU
      n=$(nvidia-smi -L | wc -l); list=$(seq -s, -f "cuda:%g" 0 $((n - 1)))
      for nd in bf16 f32; do
        timeout 300 $G bench augment --devices $list --batch $((1000 * n)) --batches 1 --json --network-dtype $nd | tail -1
        timeout 200 $G bench augment --device cuda --batch 1000 --batches 1 --json --network-dtype $nd | tail -1
      done ;;
    ops) # the fixed cost of one op (gta bench ops), and a training step at tiny batches
      timeout 200 $G bench ops --device cuda --json | tail -1
      for b in 8 64; do timeout 200 $D --batch $b --warmup 2 --steps 10 | tail -1; done ;;
    final) # the final build's figures on one machine: sampler (both dtypes), training, offline RL
      timeout 200 $A | tail -1; timeout 200 $A --network-dtype bf16 | tail -1
      timeout 200 $D --warmup 2 --steps 20 | tail -1
      for a in td3bc iql cql; do
        timeout 150 $G bench rl --algo $a --device cuda --warmup 5 --steps 500 --json | tail -1
      done ;;
    ncu-tail) # Nsight Compute on three MixerBlock-tail launches of the second network call
      timeout 300 /usr/local/cuda/bin/ncu --kernel-name regex:"(?i)mixer" --launch-skip 17 --launch-count 3 \
        --section SpeedOfLight --section Occupancy --section LaunchStats $G bench augment --device cuda \
        --batch 1000 --batches 1 --mu 0.02 --json 2>&1 | grep -E "mixer_tail|Duration|Registers|Achieved Occupancy|Compute \(SM\)|Shared Memory Config" ;;
    ncu-step) # GPU time of one training step: every kernel's duration under Nsight Compute, for runs of
      # 1 + 1 and 1 + 3 steps; half the difference is one step's GPU time
      for n in 1 3; do
        timeout 400 /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv $D --warmup 1 --steps $n \
          > /tmp/ncu-$n.csv 2>/dev/null
        python3 -c "import csv,sys; r=[x for x in csv.reader(open('/tmp/ncu-$n.csv')) if len(x)>10 and x[-3]=='gpu__time_duration.sum']; u=r[0][-2] if r else '?'; print('steps 1+$n:', len(r), 'kernels,', sum(float(x[-1].replace(',','')) for x in r), u)"
      done ;;
    multi-cli) # the real command on every GPU of the host: a short model, then gta augment --devices
      n=$(nvidia-smi -L | wc -l); list=$(seq -s, -f "cuda:%g" 0 $((n - 1)))
      $G data make halfcheetah-medium --out /tmp/hc.hdf5 --transitions 100000 | tail -1
      timeout 300 $G diffusion train --dataset /tmp/hc.hdf5 --out /tmp/run --config configs/halfcheetah-medium-v2.toml \
        --steps ${E2E_STEPS:-300} --device cuda 2>&1 | tail -1
      for k in 1 2; do
        timeout 300 $G augment --model /tmp/run --out /tmp/aug-multi-$k.hdf5 --transitions 200000 --devices $list \
          --network-dtype bf16 --json 2>&1 | tail -1
        timeout 300 $G augment --model /tmp/run --out /tmp/aug-one-$k.hdf5 --transitions 200000 --device cuda \
          --network-dtype bf16 --json 2>&1 | tail -1
      done
      cp /tmp/aug-multi-2.hdf5 /tmp/aug-multi.hdf5
      $G data info /tmp/aug-multi.hdf5 --json | head -c 600; echo ;;
    warm-bf16) timeout 200 $A --network-dtype bf16 | tail -1 ;;
    export) $G gpu export /tmp/cache-out.tar && xz -T8 -6 -c /tmp/cache-out.tar > "$OUT/gpu-cache.tar.xz"; ls -la "$OUT" ;;
    *) echo "unknown part $part" ;;
  esac
done
stamp done
