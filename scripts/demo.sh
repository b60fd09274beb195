#!/usr/bin/env bash
# The main job (README "The two commands"): set up, build gta in release mode, and run `gta demo`,
# the end-to-end pipeline on the built-in default (a maze2d-umaze dataset made by gta itself, a tiny
# diffusion model, guided augmentation, data-quality reports), on the CPU in a few minutes.
# Extra arguments go to `gta demo` (see `gta demo --help`), e.g. `bash scripts/demo.sh --device cuda`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$GTA_ROOT"

bash scripts/setup-mujoco.sh
echo "== building gta (release; the first build takes several minutes)"
cargo build --release --locked -p gta-cli
GTA="$CARGO_TARGET_DIR/release/gta"
"$GTA" demo --out runs/demo --overwrite "$@"
