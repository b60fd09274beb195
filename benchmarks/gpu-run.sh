#!/usr/bin/env bash
# One GPU-machine session of gta benchmarks (run through the `device` tool from the repo root, with
# dist/gta.xz, dist/libmujoco.so.3.17.0 and optionally dist/gpu-cache.db.xz carried).
# Usage: bash benchmarks/gpu-run.sh "PART ..."   PART = warm-diffusion | warm-rl | warm-augment |
#        bench-diffusion | bench-rl | bench-augment | bench-iql | export | ...
# Every step's output goes to $OUT/log.txt; the warm cache is exported to $OUT/gpu-cache.db.xz.
set -u
OUT=${OUT:-/tmp/gta-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
t0=$(date +%s)
stamp() { echo "[+$(( $(date +%s) - t0 ))s] $*"; }
if [ ! -x dist/gta ]; then
  python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('dist/gta.xz'), open('dist/gta','wb'))"
  chmod +x dist/gta
fi
export GTA_GPU_CACHE=${GTA_GPU_CACHE:-/tmp/gta-gpu-cache}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if [ -f dist/gpu-cache.db.xz ] && [ ! -f /tmp/gta-imported ]; then
  xz -dkc dist/gpu-cache.db.xz > /tmp/gpu-cache.db
  stamp "import carried cache"; dist/gta gpu import /tmp/gpu-cache.db && touch /tmp/gta-imported
fi
for part in $1; do
  stamp "== $part"
  case $part in
    warm-diffusion) timeout -s INT ${WARM_S:-420} dist/gta gpu warmup --what diffusion-train ;;
    warm-rl) timeout -s INT 200 dist/gta gpu warmup --what rl ;;
    warm-augment) timeout -s INT 200 dist/gta gpu warmup --what augment ;;
    bench-diffusion) timeout 200 dist/gta bench diffusion-train --device cuda --warmup 2 --steps ${STEPS:-20} --json ;;
    bench-rl) timeout 120 dist/gta bench rl --algo td3bc --device cuda --warmup 5 --steps 500 --json ;;
    bench-iql) timeout 120 dist/gta bench rl --algo iql --device cuda --warmup 5 --steps 300 --json ;;
    bench-augment) timeout 200 dist/gta bench augment --device cuda --batch ${AUG_BATCH:-1000} --batches 2 --json ;;
    export) rm -f /tmp/gpu-cache-out.db; dist/gta gpu export /tmp/gpu-cache-out.db --overwrite && xz -T4 -6 -c /tmp/gpu-cache-out.db > "$OUT/gpu-cache.db.xz"; ls -la "$OUT" ;;
    info) dist/gta gpu info ;;
    import-check) rm -rf /tmp/imp; timeout 200 dist/gta diffusion import-official dist/official_tiny.pt --obs-dim 3 --act-dim 1 --out /tmp/imp --check-io dist/official_tiny_io.npz --device cuda ;;
    *) echo "unknown part $part" ;;
  esac
  stamp "rc=$? after $part"
done
