#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs the system libraries (OpenBLAS, zlib,
# oneDNN) if needed, builds, tests.
#
# Three passes, so that what is benchmarked is what is tested:
#   1. debug build, default thread count (all cores);
#   2. the same build with MIXLN_THREADS=16, more workers than a 2-core machine has and than many
#      test shapes have rows (the default on a 16-core machine);
#   3. the release build (`swift build -c release`, the configuration the README benchmarks and
#      the demo runs; `-enable-testing` only exports internal symbols to the tests).
# `scripts/test.sh --quick` runs pass 1 only; other arguments go to `swift test` (e.g. --filter X).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
# install-deps.sh installs Open MPI on Linux, so the multi-rank tests (DataParallelTests: `mpirun -np 2
# --oversubscribe`, root allowed) must run there rather than skip.
if [[ "$(uname -s)" == "Linux" ]]; then export MIXLN_REQUIRE_MPI=1; fi

# The OpenMP policy `mixln` runs under (it sets it for itself when unset, see OpenMPWaitPolicy.swift):
# idle OpenMP threads sleep instead of spinning, so the tests' many tiny parallel loops do not wait
# on spinning threads when another process holds a core.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-PASSIVE}"

quick=false
if [[ "${1:-}" == "--quick" ]]; then quick=true; shift; fi

swift build --build-tests
echo "== debug, default threads" >&2
swift test --skip-build --disable-swift-testing "$@"
$quick && exit 0

echo "== debug, MIXLN_THREADS=16" >&2
MIXLN_THREADS=16 swift test --skip-build --disable-swift-testing "$@"

echo "== release" >&2
# A build folder of its own, so .build/release stays the README's plain `swift build -c release`.
swift build -c release --build-tests -Xswiftc -enable-testing --build-path .build-release-tests
swift test -c release --build-path .build-release-tests --skip-build --disable-swift-testing "$@"
