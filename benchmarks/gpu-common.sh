# Shared preamble of the GPU session scripts (sourced, not run): log to $OUT/log.txt, unpack the
# carried binaries (dist/gta.xz, and dist/gta-fusion.xz when carried), import the carried kernel
# cache (dist/gpu-cache-h100.tar.xz) once per machine, and print the card.
set -u
OUT=${OUT:-/tmp/gta-out}; mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
t0=$(date +%s); stamp() { echo "[+$(( $(date +%s) - t0 ))s] $*"; }
unpack() { [ -x "dist/$1" ] || { xz -dc "dist/$1.xz" > "dist/$1" && chmod +x "dist/$1"; }; }
unpack gta; [ -f dist/gta-fusion.xz ] && unpack gta-fusion
export GTA_GPU_CACHE=${GTA_GPU_CACHE:-/tmp/gta-gpu-cache}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
if [ -f dist/gpu-cache-h100.tar.xz ] && [ ! -f /tmp/gta-imported ]; then
  xz -dc dist/gpu-cache-h100.tar.xz > /tmp/cache-in.tar
  stamp "import carried cache"; dist/gta gpu import /tmp/cache-in.tar | tail -1 && touch /tmp/gta-imported
fi
G=dist/gta; GF=dist/gta-fusion
