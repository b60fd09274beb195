#!/usr/bin/env bash
# Trains the SAC behaviour policies of the D4RL-style recipes: halfcheetah, hopper and walker2d
# in parallel (one process each), then exports medium, expert and medium-replay policies.
#
#   benchmarks/sac-train.sh OUT_DIR [STEPS=1000000] [DEVICE=cpu] [GTA=target/release/gta]
#
# Each run writes OUT_DIR/sac-<env>/ (config.toml, metrics.csv, snapshots/, checkpoints/) and a
# log OUT_DIR/sac-<env>.log. Re-running the script resumes runs that already have a checkpoint
# (exactly, from the newest one). The policies land in OUT_DIR/policies/; copy them to the
# repository's policies/ folder and commit them together with their .toml provenance.
# On a 16-core host the three CPU runs take one core each for env stepping; with DEVICE=cuda
# they share the GPU. Threads per process: RAYON_NUM_THREADS (evaluation) defaults to 4.
set -euo pipefail
OUT=${1:?usage: sac-train.sh OUT_DIR [STEPS] [DEVICE] [GTA]}
STEPS=${2:-1000000}
DEVICE=${3:-cpu}
GTA=${4:-target/release/gta}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-4}
mkdir -p "$OUT"
pids=()
for env in halfcheetah hopper walker2d; do
  run="$OUT/sac-$env"
  if [ -d "$run/checkpoints" ] && [ -n "$(ls -A "$run/checkpoints" 2>/dev/null)" ]; then
    args=(--out "$run" --resume --steps "$STEPS" --device "$DEVICE")
  else
    args=(--env "$env" --out "$run" --steps "$STEPS" --device "$DEVICE" --seed 0)
  fi
  echo "starting $env: $GTA sac train ${args[*]}"
  "$GTA" sac train "${args[@]}" >"$OUT/sac-$env.log" 2>&1 &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
if [ "$status" != 0 ]; then
  echo "a training run failed; see $OUT/sac-*.log (re-run this script to resume)" >&2
  exit 1
fi
mkdir -p "$OUT/policies"
for env in halfcheetah hopper walker2d; do
  "$GTA" sac export "$OUT/sac-$env" --level all --out "$OUT/policies" | tee -a "$OUT/export.log"
done
for env in halfcheetah hopper walker2d; do
  echo "== $env: last evaluation rows"; tail -n 3 "$OUT/sac-$env/metrics.csv"
done
echo "policies in $OUT/policies (copy to policies/ and commit)"
