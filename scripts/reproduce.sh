#!/usr/bin/env bash
# The reproduction study of issue 12 in one command: does Mix-LN beat Pre-LN when trained longer?
#
# From a fresh clone: the built-in corpus (scripts/get-corpus.sh), a byte-level BPE tokenizer of
# 8,192 ids trained on it, token shards; then for each depth (12 and 24 layers of width 256, 4
# heads: the 20m preset's width) Pre-LN and Mix-LN (mix:0.25) with SEEDS seeds and Post-LN with
# one, each trained on TOKENS tokens with the paper's recipe (Adam, lr 1e-3, 10% warmup, cosine to
# 10%, no clipping, sequences of 256), evaluated on the held-out split (2% of the documents) every
# 10% of training; then the four analyses, the logit lens and one report.
#
# One departure from the paper: documents are packed (concatenated with eos) into the 256-token
# sequences. The paper pads one C4 document per sequence, which costs little there (most C4
# documents are longer than 256 tokens); the built-in corpus's documents (paragraphs of a play)
# average 38 tokens, so one per sequence would make 85% of every batch padding and a run of TOKENS
# positions would see only 15% as many real tokens.
#
# Running it again continues where it stopped: finished runs are kept, a stopped one resumes from
# its last checkpoint, analyses already done are skipped (mixln compare does all of that).
#
# Usage: scripts/reproduce.sh                      (everything; see the knobs below)
#        TOKENS=400000 DEPTHS=12 scripts/reproduce.sh   (a smaller study)
# Knobs (environment): OUT (runs/study), TOKENS per run (4,194,304 = 10.2x the 0.4M-token runs of
# docs/RESULTS.md), SEEDS for pre and mix (3), DEPTHS ("12 24"), PRECISION (bf16), BATCH
# (micro-batch, 8), TOTAL_BATCH (sequences per update, 32), MIXLN (the binary; built if missing).
set -euo pipefail

readonly ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly OUT="${OUT:-$ROOT/runs/study}"
readonly TOKENS="${TOKENS:-4194304}"
readonly SEEDS="${SEEDS:-3}"
readonly DEPTHS="${DEPTHS:-12 24}"
readonly PRECISION="${PRECISION:-bf16}"
readonly BATCH="${BATCH:-8}"
readonly TOTAL_BATCH="${TOTAL_BATCH:-32}"
readonly SEQ_LEN=256
MIXLN="${MIXLN:-$ROOT/.build/release/mixln}"

if [[ ! -x "$MIXLN" ]]; then
    echo "building the release binary ..." >&2
    (cd "$ROOT" && swift build -c release >&2)
fi
"$ROOT/scripts/get-corpus.sh" >&2
mkdir -p "$OUT"

readonly TOKENIZER="$OUT/bpe-8192.json"
if [[ ! -f "$TOKENIZER" ]]; then
    "$MIXLN" tokenizer train --data "$ROOT/data/shakespeare" --vocab-size 8192 --out "$TOKENIZER"
fi
readonly SHARDS="$OUT/shards"
if [[ ! -f "$SHARDS/manifest.json" ]]; then
    "$MIXLN" prepare --data "$ROOT/data/shakespeare" --tokenizer "$TOKENIZER" --val-fraction 0.02 --out "$SHARDS"
fi

# Updates so that every run sees TOKENS tokens (whole updates of TOTAL_BATCH × 256 packed positions).
readonly STEPS=$(( (TOKENS + TOTAL_BATCH * SEQ_LEN - 1) / (TOTAL_BATCH * SEQ_LEN) ))
readonly EVAL_EVERY=$(( STEPS / 10 > 0 ? STEPS / 10 : 1 ))
echo "study: $STEPS updates of $TOTAL_BATCH × $SEQ_LEN per run, evaluation every $EVAL_EVERY, depths $DEPTHS, $SEEDS seeds" >&2

for layers in $DEPTHS; do
    folder="$OUT/l$layers"
    common=(--model 20m --layers "$layers" --vocab-size tokenizer --data "$SHARDS"
            --packing --seq-len "$SEQ_LEN" --batch-size "$BATCH" --total-batch-size "$TOTAL_BATCH"
            --steps "$STEPS" --lr 1e-3 --warmup $(( STEPS / 10 )) --schedule cosine --min-lr-ratio 0.1
            --eval-every "$EVAL_EVERY" --precision "$PRECISION" --save-every "$EVAL_EVERY" --out "$folder")
    # Seed 0 of every scheme first (a stopped study already has one complete comparison), then the
    # remaining seeds of Pre-LN and Mix-LN; compare reuses the finished runs.
    "$MIXLN" compare --norms pre,mix:0.25,post --seeds 1 "${common[@]}"
    "$MIXLN" compare --norms pre,mix:0.25 --seeds "$SEEDS" "${common[@]}"
done

reports=()
for layers in $DEPTHS; do reports+=("$OUT/l$layers"); done
"$MIXLN" report "${reports[@]}" --title "Reproduction study: $TOKENS tokens per run" --out "$OUT/report.html"
echo "report: $OUT/report.html" >&2
