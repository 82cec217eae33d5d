#!/usr/bin/env bash
# The main job on a fresh machine: fetch the built-in corpus, build in release, train a 12-layer
# model of the 9m width with Pre-LN, Post-LN and Mix-LN (a few minutes each), and print their
# validation perplexities side by side.
#
#   STEPS=300 NORMS="pre post mix" scripts/demo.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

STEPS="${STEPS:-300}"
NORMS="${NORMS:-pre post mix}"
OUT="${OUT:-runs/demo}"

bash scripts/install-deps.sh
bash scripts/get-corpus.sh
swift build -c release
MIXLN=.build/release/mixln

declare -A result
for norm in $NORMS; do
    summary=$("$MIXLN" train --model 9m --layers 12 --vocab-size tokenizer --norm "$norm" \
        --data data/shakespeare --packing --seq-len 256 --batch-size 8 \
        --steps "$STEPS" --warmup $((STEPS / 10)) --lr 1e-3 --eval-every $((STEPS / 4)) --eval-batches 50 \
        --seed 0 --out "$OUT/$norm" --json)
    result[$norm]="$summary"
done

echo
printf "%-14s %-10s %-10s %s\n" "norm" "status" "val loss" "val perplexity"
for norm in $NORMS; do
    s="${result[$norm]}"
    status=$(grep -o '"status":"[a-z]*"' <<<"$s" | cut -d'"' -f4)
    loss=$(grep -o '"loss":[-0-9.eE+]*' <<<"$s" | head -1 | cut -d: -f2)
    ppl=$(grep -o '"perplexity":[-0-9.eE+]*' <<<"$s" | head -1 | cut -d: -f2)
    printf "%-14s %-10s %-10.4f %.2f\n" "$norm" "$status" "${loss:-nan}" "${ppl:-nan}"
done
echo "runs (metrics.jsonl, run.json, summary.json) are in $OUT/"
