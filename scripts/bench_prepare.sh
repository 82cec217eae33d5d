#!/usr/bin/env bash
# Side-by-side throughput of `mixln prepare` and the Hugging Face `tokenizers` library's batch
# encoding (issue 3's bar: ours at least half of HF's MB/s), same corpus, same tokenizer, same cores.
#
#   scripts/bench_prepare.sh [--data data/shakespeare] [--tokenizer byte|tokenizer.json] [--threads 2]
#
# Builds mixln in release, installs `tokenizers` into a venv under .build/ (nothing system-wide),
# and prints both MB/s of document text (UTF-8 bytes) and their ratio. `mixln prepare`'s time is
# the whole run: reading, parsing, encoding, writing shards; HF's is encode_batch alone.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DATA=data/shakespeare TOKENIZER=byte THREADS=2 REPEAT=3
while [[ $# -gt 0 ]]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --tokenizer) TOKENIZER=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -e "$DATA" ]] || { [[ "$DATA" == data/shakespeare ]] && scripts/get-corpus.sh; }
VENV=${VENV:-.build/hf-tokenizers-venv}
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import tokenizers" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet tokenizers
fi
swift build -c release --product mixln >&2
MIXLN=.build/release/mixln
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

best=0
for i in $(seq "$REPEAT"); do
  if ! line=$("$MIXLN" prepare --data "$DATA" --tokenizer "$TOKENIZER" --out "$OUT/shards$i" --threads "$THREADS" --json 2>"$OUT/err"); then
    echo "mixln prepare: $(cat "$OUT/err")"; ours=""; break
  fi
  ours=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["text_mb_per_second"])' "$line")
  best=$(python3 -c "print(max($best, $ours))")
done
"$VENV/bin/python" scripts/bench_prepare.py --data "$DATA" --tokenizer "$TOKENIZER" --threads "$THREADS" --repeat "$REPEAT" --json > "$OUT/hf.json"
hf=$(python3 -c 'import json; print(json.load(open("'"$OUT/hf.json"'"))["text_mb_per_second"])')
python3 - "$best" "$hf" "$TOKENIZER" "$THREADS" "${ours:+ok}" <<'PY'
import sys
ours, hf, tok, threads, ok = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5] if len(sys.argv) > 5 else ""
print(f"tokenizer {tok}, {threads} threads")
print(f"  mixln prepare (read + encode + write shards): {ours:8.1f} MB/s" if ok else "  mixln prepare: not available for this tokenizer yet")
print(f"  HF tokenizers encode_batch:                   {hf:8.1f} MB/s")
if ok:
    print(f"  ratio: {ours / hf:.2f} (bar: >= 0.5)")
PY
