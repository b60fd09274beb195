#!/usr/bin/env bash
# Issue 12 on one fresh GPU machine: cold warm-up, export, wipe every cache, import, and time the first
# steps again (the "restored cache" case). Carry dist/gta.xz and dist/libmujoco.so.3.17.0.
set -u
OUT=${OUT:-/tmp/gta-out}; mkdir -p "$OUT"
python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('dist/gta.xz'), open('dist/gta','wb'))"; chmod +x dist/gta
export GTA_GPU_CACHE=/tmp/gta-gpu-cache
t0=$(date +%s); stamp() { echo "[+$(( $(date +%s) - t0 ))s] $*"; }
stamp "cold warm-up"; dist/gta gpu warmup --what diffusion-train,rl,rl:iql,augment 2>&1 | grep -E "first_step|warmup|transitions_per_s" | cut -c1-300
stamp "export"; dist/gta gpu export /tmp/cache.tar
rm -rf /tmp/gta-gpu-cache ~/.nv; stamp "caches wiped"; ls /tmp/gta-gpu-cache 2>&1 | head -1
stamp "import"; dist/gta gpu import /tmp/cache.tar
for b in "diffusion-train --warmup 2 --steps 20" "rl --algo td3bc --warmup 5 --steps 500" "rl --algo iql --warmup 5 --steps 300" "augment --batch 1000 --batches 1"; do
  stamp "bench $b"; dist/gta bench $b --device cuda --json | tail -1
done
xz -T4 -c /tmp/cache.tar > "$OUT/gpu-cache.tar.xz"; ls -la "$OUT"; stamp done
