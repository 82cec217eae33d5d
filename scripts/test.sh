#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs OpenBLAS, zlib and oneDNN if needed, builds, tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build --disable-swift-testing "$@"
