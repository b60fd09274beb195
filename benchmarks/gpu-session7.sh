#!/usr/bin/env bash
# Session 7 on one GPU machine (run through the `device` tool from the repo root, carrying
# dist/gta.xz (--features cuda), dist/libmujoco.so.3.17.0 and dist/gpu-cache-h100.tar.xz).
# Usage: bash benchmarks/gpu-session7.sh PART...   (parts below; output in $OUT/log.txt)
# New in session 7: the training step captured as one CUDA graph (gta_diffusion::graph_step);
# GTA_CUDA_GRAPH=0 launches op by op as before, so both run from the same binary.
source "$(dirname "$0")/gpu-common.sh"
D="$G bench diffusion-train --device cuda --json"
# Compares two metrics.csv files on step, loss, lr and grad norm (not steps/s).
cmp_metrics() {
  python3 - "$1" "$2" <<'PY'
import csv, sys
a, b = ([r for r in csv.reader(open(p)) if r and r[0].isdigit()] for p in sys.argv[1:3])
rows = {r[0]: r for r in a}
both = [(rows[r[0]], r) for r in b if r[0] in rows]
same = sum(x[1:4] == y[1:4] for x, y in both)
dl = max(abs(float(x[1]) - float(y[1])) / max(abs(float(x[1])), 1e-12) for x, y in both)
dn = max(abs(float(x[3]) - float(y[3])) / max(abs(float(x[3])), 1e-12) for x, y in both)
print(f"{len(both)} common steps, {same} identical (loss, lr, norm); max rel diff loss {dl:.3g}, norm {dn:.3g}")
PY
}
train_eq() { timeout 300 $G diffusion train --dataset /tmp/eq.hdf5 --config /tmp/eq.toml --device cuda "$@" 2>&1 | tail -1; }
for part in "$@"; do
  stamp "== $part"
  case $part in
    selftest) timeout 200 $G gpu selftest --device cuda | tail -4 ;;
    graph-eq) # the same 60 steps op by op and captured (same seed), and captured with a resume at 30
      $G data make halfcheetah-medium --out /tmp/eq.hdf5 --transitions 20000 | tail -1
      sed -e 's/^log_every = .*/log_every = 1/' -e 's/^checkpoint_every = .*/checkpoint_every = 30/' \
        configs/halfcheetah-medium-v2.toml > /tmp/eq.toml
      GTA_CUDA_GRAPH=0 train_eq --out /tmp/eq-eager --steps 60
      train_eq --out /tmp/eq-graph --steps 60
      train_eq --out /tmp/eq-resume --steps 30
      timeout 300 $G diffusion train --resume /tmp/eq-resume --steps 60 --device cuda 2>&1 | tail -1
      echo "eager vs graph:"; cmp_metrics /tmp/eq-eager/metrics.csv /tmp/eq-graph/metrics.csv
      echo "graph vs graph resumed at 30:"; cmp_metrics /tmp/eq-graph/metrics.csv /tmp/eq-resume/metrics.csv
      sed -n '1,4p;58,61p' /tmp/eq-graph/metrics.csv; cp /tmp/eq-graph/metrics.csv "$OUT/eq-graph-metrics.csv"
      cp /tmp/eq-eager/metrics.csv "$OUT/eq-eager-metrics.csv" ;;
    graph-diag) # which part of the captured step departs from the op-by-op one
      sed -e 's/^update_every = .*/update_every = 1000000/' /tmp/eq.toml > /tmp/eq-noema.toml
      GTA_CUDA_GRAPH=eager train_eq --out /tmp/eq-flat --steps 20
      echo "op by op vs flat without graph:"; cmp_metrics /tmp/eq-eager/metrics.csv /tmp/eq-flat/metrics.csv
      timeout 300 $G diffusion train --dataset /tmp/eq.hdf5 --config /tmp/eq-noema.toml --device cuda --out /tmp/eq-noema --steps 20 2>&1 | tail -1
      GTA_CUDA_GRAPH=0 timeout 300 $G diffusion train --dataset /tmp/eq.hdf5 --config /tmp/eq-noema.toml --device cuda --out /tmp/eq-noema0 --steps 20 2>&1 | tail -1
      echo "no EMA, op by op vs graph:"; cmp_metrics /tmp/eq-noema0/metrics.csv /tmp/eq-noema/metrics.csv
      GTA_PITCHED=1 train_eq --out /tmp/eq-pitched --steps 20
      echo "op by op vs graph with pitched allocations:"; cmp_metrics /tmp/eq-eager/metrics.csv /tmp/eq-pitched/metrics.csv ;;
    synther-eq) # the SynthER residual-MLP denoiser (single transitions), op by op and captured, 60 steps
      [ -f /tmp/eq.toml ] || { $G data make halfcheetah-medium --out /tmp/eq.hdf5 --transitions 20000 | tail -1
        sed -e 's/^log_every = .*/log_every = 1/' configs/halfcheetah-medium-v2.toml > /tmp/eq.toml; }
      for g in 0 1; do
        GTA_CUDA_GRAPH=$g timeout 300 $G diffusion train --dataset /tmp/eq.hdf5 --config /tmp/eq.toml --denoiser resmlp \
          --device cuda --out /tmp/syn-$g --steps 60 2>&1 | tail -1
      done
      echo "resmlp op by op vs graph:"; cmp_metrics /tmp/syn-0/metrics.csv /tmp/syn-1/metrics.csv; tail -1 /tmp/syn-1/metrics.csv ;;
    graph-ab) # captured step (default) against op by op, interleaved
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $D --warmup 4 --steps ${STEPS:-60} | tail -1
        GTA_CUDA_GRAPH=0 timeout 200 $D --warmup 3 --steps 20 | tail -1
      done ;;
    batch-scale) for b in 64 128 512; do timeout 200 $D --batch $b --warmup 4 --steps 40 | tail -1; done ;;
    bf16) timeout 200 $D --warmup 4 --steps 40 --float-dtype bf16 | tail -1
      GTA_CUDA_GRAPH=0 timeout 200 $D --warmup 3 --steps 20 --float-dtype bf16 | tail -1 ;;
    ncu-step) # GPU time per kernel of captured steps: 4 + 1 and 4 + 5 steps; a quarter of the difference is one step
      for n in 1 5; do
        timeout 400 /usr/local/cuda/bin/ncu --graph-profiling node --metrics gpu__time_duration.sum --csv $D --warmup 4 --steps $n \
          > /tmp/ncu-$n.csv 2>/dev/null
        python3 -c "import csv,sys; r=[x for x in csv.reader(open('/tmp/ncu-$n.csv')) if len(x)>10 and x[-3]=='gpu__time_duration.sum']; u=r[0][-2] if r else '?'; print('steps 4+$n:', len(r), 'kernels,', sum(float(x[-1].replace(',','')) for x in r), u)"
      done
      python3 benchmarks/ncu-kernels.py /tmp/ncu-1.csv /tmp/ncu-5.csv 4 | tee "$OUT/ncu-step-kernels.txt" | head -40 ;;
    profile) # kernel launches and times of 3 op-by-op steps (CubeCL's profiler; cannot run inside a capture)
      GTA_CUDA_GRAPH=0 CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/prof.log timeout 200 $D --warmup 1 --steps 3 | tail -1
      python3 benchmarks/profile-summary.py /tmp/prof.log 60 | tee "$OUT/diffusion-profile.txt" | head -60 ;;
    profile-flat) # the captured step's kernels run op by op (GTA_CUDA_GRAPH=eager): 1 ordinary + 9 flat steps
      GTA_CUDA_GRAPH=eager CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/prof-flat.log timeout 200 $D --warmup 1 --steps 9 | tail -1
      python3 benchmarks/profile-summary.py /tmp/prof-flat.log 60 | tee "$OUT/diffusion-profile-flat.txt" | head -60 ;;
    copies-train) # which tensors the captured step's body copies (GTA_TRACE_COPIES; 2 flat steps op by op)
      GTA_CUDA_GRAPH=eager GTA_TRACE_COPIES=1 timeout 200 $D --warmup 1 --steps 2 2>/tmp/copies-train.txt | tail -1
      grep gta-copy /tmp/copies-train.txt | sort | uniq -c | sort -rn | head -40 | tee "$OUT/copies-train.txt" ;;
    reduces) # the untuned reductions of 2 flat steps (GTA_TRACE_REDUCE, shapes and routines)
      GTA_CUDA_GRAPH=eager GTA_TRACE_REDUCE=1 timeout 200 $D --warmup 1 --steps 2 2>/tmp/reduces.txt | tail -1
      grep gta-reduce /tmp/reduces.txt | sort | uniq -c | sort -rn | tee "$OUT/reduces-train.txt" | head -60 ;;
    reduce-ab) # routine of the strided batch reductions (GTA_REDUCE_STRIDED), captured step, interleaved
      for i in $(seq ${PAIRS:-1}); do for r in default unit cube plane; do
        if [ $r = default ]; then v=; else v=GTA_REDUCE_STRIDED=$r; fi
        env $v timeout 200 $D --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*' | sed "s/^/$r /"
      done; done ;;
    fresh-ab) # the MixerBlock branch sum into a fresh tensor (default) against the in-place add, interleaved
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $D --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*\|"final_loss":[0-9.]*' | paste -sd' '; echo fresh
        GTA_FRESH_SUM=0 timeout 200 $D --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*\|"final_loss":[0-9.]*' | paste -sd' '; echo in-place
      done ;;
    fills) # fills and slice writes of 2 flat steps (GTA_TRACE_FILLS, shapes)
      GTA_CUDA_GRAPH=eager GTA_TRACE_FILLS=1 timeout 200 $D --warmup 1 --steps 2 2>/tmp/fills.txt | tail -1
      grep "gta-fill\|gta-slice" /tmp/fills.txt | sort | uniq -c | sort -rn | tee "$OUT/fills-train.txt" | head -50 ;;
    host-ab) # does writing the inputs (host RNG, upload) keep the GPU waiting? stale inputs vs fresh, interleaved
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $D --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*' | sed 's/^/fresh /'
        GTA_GRAPH_DIAG=stale-inputs timeout 200 $D --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*' | sed 's/^/stale /'
      done ;;
    prev-ab) # this binary against PREV (default dist/gta-s7prev), captured step, interleaved
      P=${PREV:-gta-s7prev}; unpack $P
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $D --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*' | sed 's/^/this /'
        timeout 200 dist/$P ${D#$G } --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*' | sed "s/^/$P /"
      done ;;
    qkv-ab) # q, k, v as three products (default) against one product + chunk, interleaved
      for i in $(seq ${PAIRS:-2}); do
        timeout 200 $D --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*\|"final_loss":[0-9.]*' | paste -sd' ' | sed 's/^/split /'
        GTA_SPLIT_QKV=0 timeout 200 $D --warmup 4 --steps 60 | tail -1 | grep -o '"steps_per_s":[0-9.]*\|"final_loss":[0-9.]*' | paste -sd' ' | sed 's/^/chunk /'
      done ;;
    reduce-callers) # who asks for the reductions over ≥ 16M elements (unstripped binary carried as dist/gta.xz)
      GTA_CUDA_GRAPH=eager GTA_TRACE_REDUCE=2 timeout 200 $D --warmup 1 --steps 1 2>/tmp/rc.txt | tail -1
      grep -B1 -A12 "gta-reduce shape Shape { dims: \[256, 1536, 256\]\|gta-reduce shape Shape { dims: \[256, 768, 128\]" /tmp/rc.txt | grep "gta-reduce" | head -60 | tee "$OUT/reduce-callers.txt" ;;
    floor) for b in 8 32; do timeout 200 $D --batch $b --warmup 4 --steps 60 | tail -1; done ;;
    e2e) # the pipeline with the captured step: data, a diffusion run, guided augmentation, data quality
      $G data make halfcheetah-medium --out /tmp/hc.hdf5 --transitions 200000 | tail -2
      /usr/bin/time -f "wall %e s" timeout 500 $G diffusion train --dataset /tmp/hc.hdf5 --out /tmp/run \
        --config configs/halfcheetah-medium-v2.toml --steps ${E2E_STEPS:-1500} --device cuda 2>&1 | tail -3
      tail -2 /tmp/run/metrics.csv; cp /tmp/run/metrics.csv "$OUT/e2e-diffusion-metrics.csv"
      timeout 200 $G augment --model /tmp/run --out /tmp/aug.hdf5 --transitions 64000 --network-dtype bf16 \
        --device cuda --json 2>&1 | tail -1
      timeout 200 $G quality --original /tmp/hc.hdf5 --augmented /tmp/aug.hdf5 --env halfcheetah --device cuda \
        --json 2>&1 | tail -1 ;;
    export) $G gpu export /tmp/cache-out.tar && xz -T8 -6 -c /tmp/cache-out.tar > "$OUT/gpu-cache.tar.xz"; ls -la "$OUT" ;;
    *) echo "unknown part $part" ;;
  esac
done
stamp "done"
