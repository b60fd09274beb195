#!/usr/bin/env bash
# The test command (README "Run the tests"; .ci/run calls exactly this).
# 1. installs what the tests need (MuJoCo's library, Python h5py/numpy for the interoperability test),
# 2. compiles the CUDA backend (compile only: CI has no GPU) so the GPU path cannot rot unnoticed,
# 3. runs every test of the workspace on the CPU backend (last, so its summary closes the log).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$GTA_ROOT"

bash scripts/setup-mujoco.sh
if ! python3 -c "import h5py, numpy" 2>/dev/null; then
    echo "== installing h5py and numpy for the h5py interoperability test"
    python3 -m pip install --quiet --disable-pip-version-check h5py numpy
fi

echo "== cargo check --features cuda (compile-only check of the GPU path), target dir $CARGO_TARGET_DIR"
cargo check --locked -p gta-cli --features cuda 2>&1
echo "== cargo test (CPU backend)"
log="$(mktemp)"
status=0
cargo test --workspace --locked 2>&1 | tee "$log" || status=$?
# One closing line over all test binaries (cargo's own last lines are per-binary, often doc tests).
read -r passed failed < <(grep -E '^test result: ' "$log" \
    | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/' \
    | awk '{p += $1; f += $2} END {print p + 0, f + 0}')
rm -f "$log"
echo "tests: $passed passed, $failed failed"
exit "$status"
