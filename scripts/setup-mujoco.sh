#!/usr/bin/env bash
# Obtains MuJoCo 3.17.0 for gta (envs-and-data.md §1.4): libmujoco.so.3.17.0 from the PyPI wheel
# `mujoco==3.17.0` and the gymnasium 1.4.0 locomotion XMLs (MIT licence), placed under `.mujoco/`
# (git-ignored) at the repository root. Idempotent: exits at once when everything is in place.
#
#   .mujoco/lib/libmujoco.so.3.17.0   (sha256 checked)
#   .mujoco/lib/libmujoco.so -> libmujoco.so.3.17.0   (the exact name mujoco-rs links against)
#   .mujoco/assets/{half_cheetah,hopper,walker2d,ant}.xml
#
# The build finds the library through `.cargo/config.toml` (MUJOCO_DYNAMIC_LINK_DIR) and the
# `build.rs` of gta-envs / gta-cli (rpath), and embeds the XMLs, so nothing needs exporting.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/.mujoco"
LIB="$DIR/lib"
ASSETS="$DIR/assets"
WHEELS="$DIR/wheel"
SO_SHA256="23496b023ee80fb61ab71167e94bc649f9941710fde96b18bb8204fb332523ad"
XMLS=(half_cheetah.xml hopper.xml walker2d.xml ant.xml)
pip_download() { python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: "$@"; }

# extract WHEEL MEMBER DEST: one member of a wheel (zip) into DEST, flattened; unzip or python3.
extract() {
    if command -v unzip >/dev/null 2>&1; then
        unzip -q -j -o "$1" "$2" -d "$3"
    else
        python3 - "$1" "$2" "$3" <<'PY'
import os, shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(os.path.join(dest, os.path.basename(member)), "wb") as out:
    shutil.copyfileobj(src, out)
PY
    fi
}

so_ok() {
    [[ -f "$LIB/libmujoco.so.3.17.0" ]] &&
        echo "$SO_SHA256  $LIB/libmujoco.so.3.17.0" | sha256sum -c --status - &&
        [[ "$(readlink "$LIB/libmujoco.so" 2>/dev/null)" == "libmujoco.so.3.17.0" ]]
}
xmls_ok() {
    local f
    for f in "${XMLS[@]}"; do [[ -s "$ASSETS/$f" ]] || return 1; done
}

if so_ok && xmls_ok; then
    echo "setup-mujoco: already in place ($DIR)"
    exit 0
fi

mkdir -p "$LIB" "$ASSETS" "$WHEELS"
tmp="$(mktemp -d "$DIR/.extract.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if ! so_ok; then
    shopt -s nullglob
    wheels=("$WHEELS"/mujoco-3.17.0-*.whl)
    if (( ${#wheels[@]} == 0 )); then
        pip_download --python-version 3.11 --platform manylinux_2_28_x86_64 -d "$WHEELS" mujoco==3.17.0
        wheels=("$WHEELS"/mujoco-3.17.0-*.whl)
    fi
    (( ${#wheels[@]} > 0 )) || { echo "setup-mujoco: mujoco 3.17.0 wheel not found" >&2; exit 1; }
    extract "${wheels[0]}" mujoco/libmujoco.so.3.17.0 "$tmp"
    echo "$SO_SHA256  $tmp/libmujoco.so.3.17.0" | sha256sum -c --quiet - ||
        { echo "setup-mujoco: sha256 mismatch for libmujoco.so.3.17.0" >&2; exit 1; }
    mv -f "$tmp/libmujoco.so.3.17.0" "$LIB/libmujoco.so.3.17.0"
    ln -sfn libmujoco.so.3.17.0 "$LIB/libmujoco.so"
fi

if ! xmls_ok; then
    shopt -s nullglob
    wheels=("$WHEELS"/gymnasium-1.4.0-*.whl)
    if (( ${#wheels[@]} == 0 )); then
        pip_download -d "$WHEELS" gymnasium==1.4.0
        wheels=("$WHEELS"/gymnasium-1.4.0-*.whl)
    fi
    (( ${#wheels[@]} > 0 )) || { echo "setup-mujoco: gymnasium 1.4.0 wheel not found" >&2; exit 1; }
    for f in "${XMLS[@]}"; do
        extract "${wheels[0]}" "gymnasium/envs/mujoco/assets/$f" "$tmp"
    done
    extract "${wheels[0]}" gymnasium-1.4.0.dist-info/licenses/LICENSE "$tmp" 2>/dev/null || true
    for f in "$tmp"/*; do mv -f "$f" "$ASSETS/"; done
fi

so_ok && xmls_ok || { echo "setup-mujoco: incomplete installation in $DIR" >&2; exit 1; }
echo "setup-mujoco: installed MuJoCo 3.17.0 and gymnasium XMLs into $DIR"
