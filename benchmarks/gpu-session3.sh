#!/usr/bin/env bash
# Session 3 on one GPU machine (run through the `device` tool from the repo root, carrying
# dist/gta.xz, dist/libmujoco.so.3.17.0, dist/official_tiny.pt, dist/official_tiny_io.npz and
# optionally dist/gpu-cache-h100.tar.xz, a `gta gpu export` tar from an earlier H100 session).
# Usage: bash benchmarks/gpu-session3.sh PART...   (parts below; output in $OUT/log.txt)
set -u
OUT=${OUT:-/tmp/gta-out}; mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
t0=$(date +%s); stamp() { echo "[+$(( $(date +%s) - t0 ))s] $*"; }
if [ ! -x dist/gta ]; then
  python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('dist/gta.xz'), open('dist/gta','wb'))"
  chmod +x dist/gta
fi
export GTA_GPU_CACHE=${GTA_GPU_CACHE:-/tmp/gta-gpu-cache}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if [ -f dist/gpu-cache-h100.tar.xz ] && [ ! -f /tmp/gta-imported ]; then
  xz -dc dist/gpu-cache-h100.tar.xz > /tmp/cache-in.tar
  stamp "import carried cache"; dist/gta gpu import /tmp/cache-in.tar | tail -2 && touch /tmp/gta-imported
fi
G=dist/gta
check() { rm -rf /tmp/imp; timeout 300 $G "$@" diffusion import-official dist/official_tiny.pt --obs-dim 3 --act-dim 1 --out /tmp/imp --check-io dist/official_tiny_io.npz --device cuda; }
bench_d() { timeout 300 $G "$@" bench diffusion-train --device cuda --warmup 2 --steps ${STEPS:-20} --json | tail -1; }
for part in "$@"; do
  stamp "== $part"
  case $part in
    check-high) check ;;
    check-highest) check --matmul-precision highest ;;
    bench-high) bench_d ;;
    bench-highest) bench_d --matmul-precision highest ;;
    bench-bf16) bench_d --float-dtype bf16 ;;
    bench-f16) bench_d --float-dtype f16 ;;
    profile)
      CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG=/tmp/profile.log timeout 300 $G bench diffusion-train --device cuda --warmup 2 --steps 3 --json | tail -1
      ls -la /tmp/profile.log; head -c 600 /tmp/profile.log; echo
      python3 benchmarks/profile-summary.py /tmp/profile.log | tee "$OUT/profile-summary.txt" | head -40
      xz -T4 -6 -c /tmp/profile.log > "$OUT/profile.log.xz" ;;
    rl-high) timeout 120 $G bench rl --algo td3bc --device cuda --warmup 5 --steps 500 --json | tail -1 ;;
    rl-highest) timeout 120 $G --matmul-precision highest bench rl --algo td3bc --device cuda --warmup 5 --steps 500 --json | tail -1 ;;
    aug-high) timeout 200 $G bench augment --device cuda --batch 1000 --batches 1 --json | tail -1 ;;
    aug-highest) timeout 200 $G --matmul-precision highest bench augment --device cuda --batch 1000 --batches 1 --json | tail -1 ;;
    export) $G gpu export /tmp/cache-out.tar && xz -T4 -6 -c /tmp/cache-out.tar > "$OUT/gpu-cache.tar.xz"; ls -la "$OUT" ;;
    *) echo "unknown part $part" ;;
  esac
  stamp "rc=$? after $part"
done
