#!/usr/bin/env bash
# Installs the system libraries MixLN links against (OpenBLAS and zlib, found through pkg-config), when missing.
# Debian/Ubuntu: apt-get; macOS uses Accelerate and needs nothing.
set -euo pipefail

if [[ "$(uname -s)" == "Darwin" ]]; then exit 0; fi
if pkg-config --exists openblas zlib 2>/dev/null; then exit 0; fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
echo "installing libopenblas-dev, zlib1g-dev and pkg-config ..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev zlib1g-dev pkg-config >/dev/null
pkg-config --exists openblas zlib || { echo "error: OpenBLAS or zlib still not found by pkg-config" >&2; exit 1; }
