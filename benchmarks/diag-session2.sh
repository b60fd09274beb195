set -x
bash benchmarks/gpu-run.sh "info bench-diffusion" 2>&1 | grep -E "first_step|steps_per_s|import|rc=" | cut -c1-400
for v in "" "GTA_FUSED_KERNELS=0" "GTA_REDUCE_UNIT=1" "GTA_FUSED_KERNELS=0 GTA_REDUCE_UNIT=1"; do
  echo "== $v"; rm -rf /tmp/imp
  env $v timeout 100 dist/gta diffusion import-official dist/official_tiny.pt --obs-dim 3 --act-dim 1 --out /tmp/imp --check-io dist/official_tiny_io.npz --device cuda 2>&1 | grep -E "relative|error" | cut -c1-200
done
for v in "GTA_FUSED_KERNELS=0" "GTA_REDUCE_UNIT=1"; do
  echo "== bench diffusion $v"; env $v timeout 150 dist/gta bench diffusion-train --device cuda --warmup 2 --steps 5 --json 2>&1 | tail -1 | cut -c1-600
done
echo "== bench rl GTA_REDUCE_UNIT=1"; GTA_REDUCE_UNIT=1 timeout 60 dist/gta bench rl --algo td3bc --device cuda --warmup 5 --steps 500 --json | tail -1
echo "== bench rl default"; timeout 60 dist/gta bench rl --algo td3bc --device cuda --warmup 5 --steps 500 --json | tail -1
echo "== augment batch 4000"; timeout 150 dist/gta bench augment --device cuda --batch 4000 --batches 1 --json | tail -1
