#!/usr/bin/env python3
"""Expected `mixln eval-mc` results, computed as lm-evaluation-harness computes them (deterministic).

    pip install -r scripts/requirements-reference.txt
    python3 scripts/reference/make_eval_mc_fixtures.py

Writes Tests/MixLNCLITests/Fixtures/eval_mc/:
  model/          a checkpoint as the official code writes it (config.json with norm_type post_pre,
                  post_num 1; model.safetensors fp32): hidden 16, 2 heads, 2 layers (Post-LN then
                  Pre-LN), vocab 2000, max_sequence_length 40. Weights drawn wider than the official
                  init (linear N(0, 0.2), lm_head N(0, 0.5), norm weights 1 + 0.1·N(0, 1)) so that
                  log-probabilities differ clearly between tokens and positions: a context split one
                  token off, or a truncation one token off, changes the sums by whole nats.
  requests.jsonl  the OLMES request layout: one line per (question, choice), plus one unconditional
                  line (doc_id 1000000) that must be skipped.
  simple.jsonl.gz the simple layout {"context", "choices", "gold"} (gzip), one with a target_delimiter.
  expected.json   for each tokenizer fixture (Tests/MixLNDataTests/Fixtures/tokenizers/
                  gpt2_bytelevel.json: no BOS; llama_bpe.json: prepends <s>) and each task file:
                  per question its doc_id, gold, per choice the context and continuation token ids
                  and the summed log-likelihood (float64 reference model), pred, pred_norm; and per
                  task n, acc, acc_norm and their standard errors; and `layer_drop`: acc and
                  acc_norm of requests.jsonl with llama_bpe.json when each decoder layer is bypassed
                  (its block replaced by the identity), as `analyze layer-drop --tasks` reports them.

The split follows lm-evaluation-harness's `loglikelihood` for a causal model with default options:
trailing whitespace of the context moves to the continuation; whole = encode(context + continuation),
context_enc = encode(context) with the tokenizer's default special tokens, continuation_enc =
whole[len(context_enc):]; an empty context becomes [prefix_token_id] (BOS, else EOS);
the model reads (context_enc + continuation_enc)[-(max_length + 1):][:-1]; acc_norm divides by
len(choice) (the choice string without the target delimiter); stderr = sample stddev / sqrt(n).
"""
from __future__ import annotations

import gzip
import io
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mixln_reference import MixLNForCausalLM, ModelConfig, RMSNorm, make_plan, save_checkpoint  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "Tests", "MixLNCLITests", "Fixtures", "eval_mc")
TOKENIZERS = os.path.join(REPO, "Tests", "MixLNDataTests", "Fixtures", "tokenizers")
TOKENIZER_FILES = {"gpt2_bytelevel": "gpt2_bytelevel.json", "llama_bpe": "llama_bpe.json"}
# The harness's prefix_token_id: BOS, else EOS (the names these tokenizer.json files use).
PREFIX_TOKENS = {"gpt2_bytelevel": "<|endoftext|>", "llama_bpe": "<s>"}
UNCONDITIONAL_OFFSET = 1_000_000

LONG = ("Question: The water cycle moves water between the oceans, the air and the land. Heat from the "
        "sun evaporates water, which rises, cools and condenses into clouds, and then falls as rain or "
        "snow. Which process turns water vapor into liquid droplets?\nAnswer:")

# (context, [continuations], gold) in the request layout: continuations carry their delimiter.
REQUEST_QUESTIONS = [
    ("Question: Which of these is a color?\nAnswer:", [" red", " table", " quickly"], 0),
    ("Question: What do plants need to make food?\nAnswer: ", ["sunlight", "darkness"], 0),  # trailing space moves
    (LONG, [" condensation", " evaporation", " precipitation", " melting"], 0),               # cut from the left
    ("", ["The end.", " Once upon a time"], 1),                                              # empty context
    ("Le café est très", [" chaud", " froid"], 1),
    ("The cat sat on the ma", ["t", "ttress"], 0),                                           # boundary inside a word
]
# (context, [choices], gold, target_delimiter or None) in the simple layout.
SIMPLE_QUESTIONS = [
    ("The capital of France is", ["Paris", "London", "a large city in Europe"], 0, None),
    ("Answer with one word:\n", ["yes", "no"], 1, ""),
    ("Question: 2 + 2 =\nAnswer:", ["4", "22", "four"], 0, None),
]


def build_model() -> MixLNForCausalLM:
    cfg = ModelConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2,
                      vocab_size=2000, max_sequence_length=40, rms_norm_eps=1e-6, initializer_range=0.02,
                      pad_token_id=None)
    model = MixLNForCausalLM(cfg, make_plan("mix:1", cfg.num_hidden_layers), init=False)
    gen = torch.Generator().manual_seed(1010)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "model.embed_tokens.weight":
                p.copy_(torch.randn(p.shape, generator=gen) * math.sqrt(2 / 5))
            elif name == "lm_head.weight":
                p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        for m in model.modules():
            if isinstance(m, RMSNorm):
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=gen))
    return model.float()


def encode_pair(tok: Tokenizer, prefix_id: int, context: str, continuation: str):
    """lm-evaluation-harness `loglikelihood` + `_encode_pair` for a causal model (default options)."""
    if context == "":
        cont = tok.encode(continuation, add_special_tokens=False).ids
        if cont and cont[0] == prefix_id:
            return cont[:1], cont[1:]
        return [prefix_id], cont
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces > 0:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tok.encode(context + continuation).ids
    context_enc = tok.encode(context).ids
    return context_enc, whole[len(context_enc):]


@torch.no_grad()
def loglikelihood(model: MixLNForCausalLM, context_enc, continuation_enc) -> float:
    max_length = model.config.max_sequence_length
    inp = (context_enc + continuation_enc)[-(max_length + 1):][:-1]
    if not continuation_enc:
        return 0.0
    logits = model(torch.tensor([inp]), compute_loss=False).logits[0]
    logp = F.log_softmax(logits.double(), dim=-1)[-len(continuation_enc):]
    return float(logp[torch.arange(len(continuation_enc)), torch.tensor(continuation_enc)].sum())


def mean_stderr(values) -> float:
    mu = sum(values) / len(values)
    return math.sqrt(sum((x - mu) ** 2 for x in values) / (len(values) - 1)) / math.sqrt(len(values))


def score(model, tok, prefix_id, questions):
    """questions: [(doc_id, gold, [(context, continuation, choice_text)])]"""
    items, acc, acc_norm = [], [], []
    for doc_id, gold, choices in questions:
        entries = []
        for context, continuation, choice in choices:
            ctx, cont = encode_pair(tok, prefix_id, context, continuation)
            entries.append({"context_tokens": ctx, "continuation_tokens": cont,
                            "loglikelihood": loglikelihood(model, ctx, cont)})
        lls = np.array([e["loglikelihood"] for e in entries])
        completion_len = np.array([float(len(c)) for _, _, c in choices])
        pred, pred_norm = int(np.argmax(lls)), int(np.argmax(lls / completion_len))
        items.append({"doc_id": doc_id, "gold": gold, "choices": entries, "pred": pred, "pred_norm": pred_norm})
        acc.append(1.0 if pred == gold else 0.0)
        acc_norm.append(1.0 if pred_norm == gold else 0.0)
    return {"n": len(items), "acc": sum(acc) / len(acc), "acc_stderr": mean_stderr(acc),
            "acc_norm": sum(acc_norm) / len(acc_norm), "acc_norm_stderr": mean_stderr(acc_norm), "items": items}


def request_lines():
    lines = []
    for doc_id, (context, continuations, gold) in enumerate(REQUEST_QUESTIONS):
        for idx, continuation in enumerate(continuations):
            lines.append({"request_type": "loglikelihood",
                          "doc": {"query": context, "choices": [c.strip() for c in continuations], "gold": gold},
                          "request": {"context": context, "continuation": continuation},
                          "idx": idx, "task_name": "fixture_requests", "doc_id": doc_id, "label": gold})
    context, continuations, gold = REQUEST_QUESTIONS[0]
    lines.append({"request_type": "loglikelihood", "doc": {}, "request": {"context": "Answer:", "continuation": continuations[0]},
                  "idx": 0, "task_name": "fixture_requests", "doc_id": UNCONDITIONAL_OFFSET, "label": gold})
    return lines


def main():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    model = build_model()
    save_checkpoint(model, os.path.join(OUT, "model"), with_plan=False)
    model = model.double().eval()

    with open(os.path.join(OUT, "requests.jsonl"), "w") as f:
        for line in request_lines():
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    simple = [{"context": c, "choices": ch, "gold": g, **({"target_delimiter": d} if d is not None else {})}
              for c, ch, g, d in SIMPLE_QUESTIONS]
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz:
        gz.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in simple).encode())
    with open(os.path.join(OUT, "simple.jsonl.gz"), "wb") as f:
        f.write(buffer.getvalue())

    # The harness's choices: the request layout's doc choices are the continuations without the
    # delimiter; the simple layout's are the choices as given.
    request_questions = [(i, g, [(c, cont, cont.lstrip()) for cont in conts]) for i, (c, conts, g) in enumerate(REQUEST_QUESTIONS)]
    simple_questions = [(i, g, [(c, (" " if d is None else d) + ch, ch) for ch in chs])
                        for i, (c, chs, g, d) in enumerate(SIMPLE_QUESTIONS)]
    expected = {}
    for name, file in TOKENIZER_FILES.items():
        tok = Tokenizer.from_file(os.path.join(TOKENIZERS, file))
        prefix_id = tok.token_to_id(PREFIX_TOKENS[name])
        expected[name] = {"requests": score(model, tok, prefix_id, request_questions),
                          "simple": score(model, tok, prefix_id, simple_questions)}
        for task, result in expected[name].items():
            print(name, task, "acc", result["acc"], "acc_norm", result["acc_norm"],
                  [[round(c["loglikelihood"], 3) for c in q["choices"]] for q in result["items"]])
    tok = Tokenizer.from_file(os.path.join(TOKENIZERS, TOKENIZER_FILES["llama_bpe"]))
    prefix_id = tok.token_to_id(PREFIX_TOKENS["llama_bpe"])
    drops = []
    for l in range(model.config.num_hidden_layers):
        kept = model.model.layers[l]
        model.model.layers[l] = torch.nn.Identity()
        result = score(model, tok, prefix_id, request_questions)
        model.model.layers[l] = kept
        drops.append({"layer": l, "acc": result["acc"], "acc_norm": result["acc_norm"],
                      "loglikelihoods": [[c["loglikelihood"] for c in q["choices"]] for q in result["items"]]})
        print("layer", l, "skipped: acc", result["acc"], "acc_norm", result["acc_norm"])
    expected["layer_drop"] = {"tokenizer": "llama_bpe", "task": "requests", "layers": drops}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
