#!/usr/bin/env bash
# Installs the system libraries MixLN links against, when missing: OpenBLAS and zlib (found through
# pkg-config) and oneDNN (Debian's libdnnl-dev ships no pkg-config file: its header is checked).
# Debian/Ubuntu: apt-get; macOS uses Accelerate and needs nothing (no oneDNN: bf16 runs widened to fp32).
set -euo pipefail

if [[ "$(uname -s)" == "Darwin" ]]; then exit 0; fi

# Open MPI for data-parallel training (`mpirun -np N mixln train`): optional at build time (Package.swift
# builds without it), installed here so CI builds and tests the multi-rank path. On macOS: brew install open-mpi.
if ! { pkg-config --exists ompi-c 2>/dev/null && command -v mpirun >/dev/null; }; then
    MPI_SUDO=""
    if [[ "$(id -u)" != "0" ]]; then MPI_SUDO="sudo"; fi
    echo "installing openmpi-bin and libopenmpi-dev ..." >&2
    $MPI_SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $MPI_SUDO apt-get install -y -qq openmpi-bin libopenmpi-dev pkg-config >/dev/null
    pkg-config --exists ompi-c || { echo "error: Open MPI (ompi-c) still not found by pkg-config" >&2; exit 1; }
fi

have_dnnl() {
    [[ -f /usr/include/oneapi/dnnl/dnnl.h || -f /usr/local/include/oneapi/dnnl/dnnl.h ]]
}
if pkg-config --exists openblas zlib 2>/dev/null && have_dnnl; then exit 0; fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
echo "installing libopenblas-dev, zlib1g-dev, libdnnl-dev and pkg-config ..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev zlib1g-dev libdnnl-dev pkg-config >/dev/null
pkg-config --exists openblas zlib || { echo "error: OpenBLAS or zlib still not found by pkg-config" >&2; exit 1; }
have_dnnl || { echo "error: oneDNN (libdnnl-dev) still not found: no oneapi/dnnl/dnnl.h" >&2; exit 1; }
