#!/usr/bin/env bash
# Data-parallel diffusion training on several GPUs of one host (issue 9), run from the repo root on
# a 2x or 4x GPU machine with dist/gta (or dist/gta.xz) built with `--features cuda` carried.
# Usage: bash benchmarks/multi-gpu.sh ["PART ..."]      (default: "info bench train")
#   info   nvidia-smi -L, NCCL presence (libnccl.so.2 is loaded at run time by burn's all-reduce)
#   bench  gta bench diffusion-train --devices cuda:0,...,cuda:N-1 for N = 2 (and 4 if present):
#          one GPU, then N GPUs in the same process; JSON lines in $OUT/bench-N.json
#   bench2 / bench4   just that N
#   train  a 200-step tiny-config run on 1 GPU, on 2 GPUs, and on 1 GPU with another seed
#          (the yardstick: how far two equally valid curves lie apart); loss CSVs in $OUT and the
#          largest relative loss difference per pair
# Each part fits a 10-minute call on its own (the first step of a fresh GPU compiles kernels,
# ~45 s per process), so the parts can be run in separate calls. Output: $OUT/multi-gpu.txt.
set -u
OUT=${OUT:-/tmp/gta-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/multi-gpu.txt") 2>&1
t0=$(date +%s)
stamp() { echo "[+$(( $(date +%s) - t0 ))s] $*"; }
if [ ! -x dist/gta ] && [ -f dist/gta.xz ]; then
  python3 -c "import lzma,shutil; shutil.copyfileobj(lzma.open('dist/gta.xz'), open('dist/gta','wb'))"
  chmod +x dist/gta
fi
[ -x dist/gta ] || { echo "dist/gta missing (build with: cargo build --release -p gta-cli --features cuda)"; exit 1; }
export GTA_GPU_CACHE=${GTA_GPU_CACHE:-/tmp/gta-gpu-cache}
NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')
STEPS=${STEPS:-20}
TRAIN_STEPS=${TRAIN_STEPS:-200}
devlist() { seq -s, -f 'cuda:%g' 0 $(( $1 - 1 )); }

bench_n() {
  local n=$1
  if [ "$NGPU" -lt "$n" ]; then echo "skip bench$n: $NGPU GPU(s)"; return; fi
  stamp "bench diffusion-train, $n GPUs, global batch 256 (strong scaling)"
  timeout 280 dist/gta bench diffusion-train --devices "$(devlist "$n")" --warmup 2 --steps "$STEPS" --json | tee "$OUT/bench-$n.json"
  stamp "rc=${PIPESTATUS[0]}"
  if [ -n "${WEAK:-}" ]; then
    stamp "bench diffusion-train, $n GPUs, 256 per GPU (weak scaling)"
    timeout 280 dist/gta bench diffusion-train --devices "$(devlist "$n")" --weak --warmup 2 --steps "$STEPS" --json | tee "$OUT/bench-$n-weak.json"
    stamp "rc=${PIPESTATUS[0]}"
  fi
}

make_dataset() {
  # A D4RL-layout .npz without numpy: halfcheetah-shaped (obs 17, act 6) smooth random walks,
  # 1000-step episodes ending in a timeout. Only the training mechanics are under test here.
  python3 - "$1" <<'EOF'
import io, math, random, struct, sys, zipfile
random.seed(0)
N, OBS, ACT, EP = 20000, 17, 6, 1000
def npy(shape, code, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        code, "".join("%d," % d for d in shape))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload
obs, act, rew, term, tout = [], [], [], [], []
x = [0.0] * OBS
for t in range(N):
    if t % EP == 0:
        x = [random.gauss(0, 1) for _ in range(OBS)]
    a = [math.tanh(random.gauss(0, 1)) for _ in range(ACT)]
    x = [0.95 * xi + 0.1 * a[i % ACT] + 0.05 * random.gauss(0, 1) for i, xi in enumerate(x)]
    obs.extend(x); act.extend(a)
    rew.append(x[0] - 0.1 * sum(ai * ai for ai in a))
    term.append(0); tout.append(1 if t % EP == EP - 1 else 0)
f32 = lambda v: struct.pack("<%df" % len(v), *v)
u8 = lambda v: bytes(v)
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:
    z.writestr("observations.npy", npy((N, OBS), "<f4", f32(obs)))
    z.writestr("actions.npy", npy((N, ACT), "<f4", f32(act)))
    z.writestr("rewards.npy", npy((N,), "<f4", f32(rew)))
    z.writestr("terminals.npy", npy((N,), "|b1", u8(term)))
    z.writestr("timeouts.npy", npy((N,), "|b1", u8(tout)))
EOF
}

compare() {
  # Largest relative difference of the logged losses (each the mean over log_every steps).
  python3 - "$@" <<'EOF'
import csv, sys
def losses(p):
    with open(p) as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}
a, b = losses(sys.argv[1]), losses(sys.argv[2])
steps = sorted(set(a) & set(b))
rel = [abs(a[s] - b[s]) / abs(a[s]) for s in steps]
print("%s vs %s: %d logged steps, max relative loss difference %.3e (mean %.3e), final losses %.5f / %.5f"
      % (sys.argv[3], sys.argv[4], len(steps), max(rel), sum(rel) / len(rel), a[steps[-1]], b[steps[-1]]))
EOF
}

train_runs() {
  if [ "$NGPU" -lt 2 ]; then echo "skip train: $NGPU GPU(s)"; return; fi
  local ds=/tmp/gta-mgpu/synthetic.npz
  mkdir -p /tmp/gta-mgpu
  [ -f "$ds" ] || { stamp "make synthetic dataset"; make_dataset "$ds"; }
  rm -rf /tmp/gta-mgpu/run-1 /tmp/gta-mgpu/run-2 /tmp/gta-mgpu/run-1-seed1
  stamp "train tiny, 1 GPU"
  timeout 250 dist/gta diffusion train --dataset "$ds" --config configs/tiny.toml --steps "$TRAIN_STEPS" \
    --device cuda:0 --out /tmp/gta-mgpu/run-1 < /dev/null; stamp "rc=$?"
  stamp "train tiny, 2 GPUs"
  timeout 250 dist/gta diffusion train --dataset "$ds" --config configs/tiny.toml --steps "$TRAIN_STEPS" \
    --devices cuda:0,cuda:1 --out /tmp/gta-mgpu/run-2 < /dev/null; stamp "rc=$?"
  stamp "train tiny, 1 GPU, seed 1 (yardstick)"
  timeout 250 dist/gta diffusion train --dataset "$ds" --config configs/tiny.toml --steps "$TRAIN_STEPS" \
    --device cuda:0 --seed 1 --out /tmp/gta-mgpu/run-1-seed1 < /dev/null; stamp "rc=$?"
  cp /tmp/gta-mgpu/run-1/metrics.csv "$OUT/loss-1gpu.csv" 2>/dev/null
  cp /tmp/gta-mgpu/run-2/metrics.csv "$OUT/loss-2gpu.csv" 2>/dev/null
  cp /tmp/gta-mgpu/run-1-seed1/metrics.csv "$OUT/loss-1gpu-seed1.csv" 2>/dev/null
  compare "$OUT/loss-1gpu.csv" "$OUT/loss-2gpu.csv" "1 GPU" "2 GPUs"
  compare "$OUT/loss-1gpu.csv" "$OUT/loss-1gpu-seed1.csv" "1 GPU seed 0" "1 GPU seed 1 (yardstick)"
}

for part in ${1:-info bench train}; do
  stamp "== $part"
  case $part in
    info)
      nvidia-smi -L
      nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
      nvidia-smi topo -m 2>/dev/null | head -12
      if ldconfig -p 2>/dev/null | grep -i nccl; then :; else
        echo "libnccl not in the ldconfig cache; searching (20 s at most):"
        timeout 20 find / -xdev \( -name 'libnccl.so*' \) 2>/dev/null | head -5
        echo "(if found outside the loader path: export LD_LIBRARY_PATH=<its folder>)"
      fi
      ;;
    bench) bench_n 2; bench_n 4 ;;
    bench2) bench_n 2 ;;
    bench4) bench_n 4 ;;
    train) train_runs ;;
    *) echo "unknown part $part" ;;
  esac
done
stamp "done"
