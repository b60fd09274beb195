# Sourced by the other scripts: common environment for building and running gta.
# The cargo target dir lives outside the clone so that rebuilds (and CI runs) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/gta-target}"
GTA_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GTA_ROOT
