#!/usr/bin/env bash
# Installs the system libraries MixLN links against (OpenBLAS and zlib, found through pkg-config), when missing.
# Debian/Ubuntu: apt-get; macOS uses Accelerate and needs nothing.
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

if pkg-config --exists openblas zlib 2>/dev/null; then exit 0; fi

SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
echo "installing libopenblas-dev, zlib1g-dev and pkg-config ..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libopenblas-dev zlib1g-dev pkg-config >/dev/null
pkg-config --exists openblas zlib || { echo "error: OpenBLAS or zlib still not found by pkg-config" >&2; exit 1; }
