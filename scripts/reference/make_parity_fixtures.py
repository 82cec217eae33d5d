"""Writes the PyTorch parity fixtures the Swift tests check against (deterministic).

    pip install -r scripts/requirements-reference.txt
    python3 scripts/reference/make_parity_fixtures.py

1. Tests/MixLNModelTests/Fixtures/parity/<scheme>/ for every scheme in SCHEMES:
   config.json (official/HF keys + norm_type [+ post_num], no norm_plan), model.safetensors (fp32,
   official names), inputs.json, expected.json, gradients.safetensors, hidden_states.safetensors.
   `make_parity_fixtures.py FOLDER…` rewrites only the named parity folders.
2. Tests/MixLNCLITests/Fixtures/official/<scheme>/ for pre, post, post_pre (POST_NUM=1): a checkpoint
   as the official code writes it (config.json + model.safetensors), tokens.jsonl and expected.json
   (what `mixln eval --seq-len 16 --json` and `mixln analyze grad-norms --json` must print).

Weights: the official init (linear N(0, 0.02·gain of the plan), embedding N(0, √(2/5)) with the
padding row V−1 zero) from a per-scheme seed, then every norm weight set to 1 + 0.1·N(0, 1) so that
a norm read from the wrong tensor (or not applied) changes the numbers; under DyT each site's alpha
set to its alpha_0 × U(1, 1.3) and the embedding scale to sqrt(C) × U(0.5, 0.7) (tanh not saturated).
The padding row stays zero.
"""
from __future__ import annotations

import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from mixln_reference import (IGNORE_INDEX, DyT, MixLNForCausalLM, ModelConfig, RMSNorm, Scale, make_plan,  # noqa: E402
                             save_checkpoint)

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
PARITY_DIR = os.path.join(REPO, "Tests", "MixLNModelTests", "Fixtures", "parity")
OFFICIAL_DIR = os.path.join(REPO, "Tests", "MixLNCLITests", "Fixtures", "official")

# fixture folder -> scheme given to make_plan (the Swift `--norm` value that rebuilds the plan)
SCHEMES = {
    "pre": "pre",
    "post": "post",
    "mix": "mix:1",           # official post_pre with POST_NUM=1
    "sandwich": "sandwich",
    "peri": "peri",
    "deepnorm": "deepnorm",
    "scaled-pre": "scaled-pre",
    "lns": "lns",
    "pre-qk-head": "pre+qk-head",    # QK-norm per head (Qwen3), --qk-norm head
    "mix-qk-full": "mix:1+qk-full",  # QK-norm over the full projections (OLMo 2), --qk-norm full
    "reordered": "reordered",        # OLMo 2's output-only norms
    "skipinit": "skipinit",          # no norm, a learnable scalar on each sublayer output
    "layerscale": "layerscale",      # Pre-LN with a learnable per-channel scale on each sublayer output
    "mix-gpas": "mix:1+gpas",        # GPAS gates (stop-gradient) on a Post-LN layer's shortcut and after Pre-LN residuals
    "hybrid-star": "hybrid-star",    # HybridNorm*: QKV-norm attention, FFN N(h) + FFN(N(h)), a Pre-LN first block
    "dyt-pre": "dyt-pre",            # DyT at every input norm and the final norm, the embedding scaled
    "dyt-peri": "dyt-peri",          # DyT at input, output and embedding norms
    "dyt-mix": "dyt-mix:1",          # DyT at a Post-LN layer's post norms, then input norms
}
OFFICIAL_SCHEMES = {"pre": "pre", "post": "post", "post_pre": "mix:1"}

BATCH, SEQ_LEN = 2, 12
CLI_SEQ_LEN = 16
CLI_RECORD_LENGTHS = [16, 9, 5, 12, 2, 14]


def small_config() -> ModelConfig:
    return ModelConfig(hidden_size=32, intermediate_size=48, num_attention_heads=4, num_hidden_layers=4,
                       vocab_size=96, max_sequence_length=32, rms_norm_eps=1e-6, initializer_range=0.02,
                       pad_token_id=-1)


def build_model(scheme: str, seed: int) -> MixLNForCausalLM:
    cfg = small_config()
    model = MixLNForCausalLM(cfg, make_plan(scheme, cfg.num_hidden_layers), init=False)
    gen = torch.Generator().manual_seed(seed)
    model.reset_parameters(generator=gen)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (RMSNorm, DyT)):
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=gen))
            if isinstance(m, DyT):  # alpha away from its init, each site its own (a site read with another's alpha shows)
                m.alpha.copy_(m.alpha_init * (1.0 + 0.3 * torch.rand(1, generator=gen)))
            elif isinstance(m, Scale):  # output scales away from their init (ReZero's 0 would cut every branch)
                m.weight.copy_(0.5 + 0.2 * torch.randn(m.weight.shape, generator=gen))
    if hasattr(model.model, "embed_scale"):  # DyT's embedding scale away from sqrt(C)
        with torch.no_grad():
            model.model.embed_scale.mul_(0.5 + 0.2 * torch.rand(1, generator=gen))
    pad = cfg.padding_row
    assert pad == cfg.vocab_size - 1 and torch.all(model.model.embed_tokens.weight[pad] == 0)
    return model.float()


def norm(t: torch.Tensor) -> float:
    return float(t.detach().double().norm())


def group_norm(tensors) -> float:
    return math.sqrt(sum(float(t.detach().double().pow(2).sum()) for t in tensors))


def grads_by_name(model) -> dict:
    out = {}
    for name, p in model.named_parameters():
        out[name] = (p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().contiguous()
    return out


def grad_summary(model, grads: dict) -> dict:
    L = model.config.num_hidden_layers
    layers = []
    for l in range(L):
        pre = f"model.layers.{l}."
        names = [n for n in grads if n.startswith(pre)]
        layers.append({
            "layer": l,
            "grad_norm": group_norm(grads[n] for n in names),
            "attention": group_norm(grads[n] for n in names if ".self_attn." in n),
            "mlp": group_norm(grads[n] for n in names if ".mlp." in n),
            "norms": group_norm(grads[n] for n in names if "layernorm" in n),
        })
    return {
        "embedding": norm(grads["model.embed_tokens.weight"]),
        "layers": layers,
        "final_norm": norm(grads["model.norm.weight"]),
        "lm_head": norm(grads["lm_head.weight"]),
        "total": group_norm(grads.values()),
        "parameters": {n: norm(g) for n, g in grads.items()},
    }


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def save_tensors(path: str, tensors: dict) -> None:
    save_file({k: v.detach().float().contiguous() for k, v in tensors.items()}, path, metadata={"format": "pt"})


def check_checkpoint(directory: str, model: MixLNForCausalLM, scheme: str) -> None:
    """The config must not carry norm_plan; its tensors are exactly the model's official names."""
    from safetensors.torch import load_file
    with open(os.path.join(directory, "config.json")) as f:
        cfg = json.load(f)
    assert "norm_plan" not in cfg, cfg
    names = set(load_file(os.path.join(directory, "model.safetensors")))
    assert names == set(dict(model.named_parameters())), (scheme, names ^ set(dict(model.named_parameters())))


def make_inputs(vocab: int):
    g = torch.Generator().manual_seed(20241218)
    ids = torch.randint(0, vocab - 1, (BATCH, SEQ_LEN), generator=g)
    # The frozen padding row (zero embedding) as an input, twice. Not at position 0: there the whole
    # residual stream stays exactly zero (causal attention sees only itself), every post-norm then
    # amplifies its gradient by 1/sqrt(eps) = 1000 (~1e26 at layer 0 for deepnorm here), and the
    # fixture would only hold if every product with those zeros is exactly zero.
    ids[0, 4] = vocab - 1
    ids[1, 8] = vocab - 1
    targets = torch.full_like(ids, IGNORE_INDEX)
    targets[:, :-1] = ids[:, 1:]          # HF shift; last position of each sequence ignored
    targets[0, 6] = IGNORE_INDEX          # a few ignored targets in the middle
    targets[1, 2] = IGNORE_INDEX
    targets[1, 7] = IGNORE_INDEX
    assert (targets[0, 3] == vocab - 1)   # V-1 is also predicted once (lm_head row V-1 is ordinary)
    return ids, targets


def parity_fixture(folder: str, scheme: str, seed: int, ids, targets) -> dict:
    model = build_model(scheme, seed)
    out_dir = os.path.join(PARITY_DIR, folder)
    os.makedirs(out_dir, exist_ok=True)
    save_checkpoint(model, out_dir, with_plan=False)
    check_checkpoint(out_dir, model, scheme)

    model.zero_grad(set_to_none=True)
    hidden, layer_inputs = model.model(ids, return_layer_inputs=True)
    logits = model.lm_head(hidden)
    loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1),
                           ignore_index=IGNORE_INDEX, reduction="mean")
    loss.backward()
    assert torch.isfinite(loss)
    grads = grads_by_name(model)
    pad_grad = grads["model.embed_tokens.weight"][model.config.padding_row]
    assert torch.all(pad_grad == 0), "padding row received gradient"

    # float64 replica: the same weights and batch in double precision (for tolerance decisions)
    m64 = MixLNForCausalLM(model.config, model.plan, init=False).double()
    m64.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    with torch.no_grad():
        loss64 = float(m64(ids, labels=targets).loss)

    s = grad_summary(model, grads)
    expected = {
        "scheme": scheme,
        "loss": float(loss.detach()),
        "loss_float64": loss64,
        "predicted_tokens": int((targets != IGNORE_INDEX).sum()),
        "logits_slice": {"shape": [3, 8], "index": "logits[0, :3, :8]",
                         "values": [float(v) for v in logits[0, :3, :8].detach().reshape(-1)]},
        "layer_grad_norms": [e["grad_norm"] for e in s["layers"]],
        "embedding_grad_norm": s["embedding"],
        "final_norm_grad_norm": s["final_norm"],
        "lm_head_grad_norm": s["lm_head"],
        "total_grad_norm": s["total"],
        "parameter_grad_norms": s["parameters"],
    }
    if "model.embed_norm.weight" in grads:
        expected["embedding_norm_grad_norm"] = norm(grads["model.embed_norm.weight"])
    write_json(os.path.join(out_dir, "inputs.json"), {
        "batch": BATCH, "seq_len": SEQ_LEN,
        "input_ids": [int(v) for v in ids.reshape(-1)],
        "targets": [int(v) for v in targets.reshape(-1)],
    })
    write_json(os.path.join(out_dir, "expected.json"), expected)
    save_tensors(os.path.join(out_dir, "gradients.safetensors"), grads)
    save_tensors(os.path.join(out_dir, "hidden_states.safetensors"),
                 {f"layer_input.{l}": h for l, h in enumerate(layer_inputs)})
    return {"dir": out_dir, "loss": float(loss.detach()), "total": s["total"], "layers": expected["layer_grad_norms"]}


def cli_records(vocab: int):
    g = torch.Generator().manual_seed(7)
    records = [torch.randint(0, vocab - 1, (n,), generator=g).tolist() for n in CLI_RECORD_LENGTHS]
    records[1][3] = vocab - 1          # a real token that hits the frozen padding row
    return records


def official_fixture(folder: str, scheme: str, seed: int, records) -> dict:
    model = build_model(scheme, seed)
    out_dir = os.path.join(OFFICIAL_DIR, folder)
    os.makedirs(out_dir, exist_ok=True)
    save_checkpoint(model, out_dir, with_plan=False)
    check_checkpoint(out_dir, model, scheme)
    with open(os.path.join(out_dir, "tokens.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps({"input_ids": r}) + "\n")

    # Batch the records right-padded to CLI_SEQ_LEN with an arbitrary id, padding masked by position.
    ids = torch.zeros(len(records), CLI_SEQ_LEN, dtype=torch.long)
    targets = torch.full_like(ids, IGNORE_INDEX)
    for i, r in enumerate(records):
        assert 2 <= len(r) <= CLI_SEQ_LEN
        ids[i, :len(r)] = torch.tensor(r)
        targets[i, :len(r) - 1] = torch.tensor(r[1:])
    model.zero_grad(set_to_none=True)
    loss = model(ids, labels=targets).loss
    loss.backward()
    tokens = int((targets != IGNORE_INDEX).sum())
    assert tokens == sum(len(r) - 1 for r in records)
    # padding really contributes nothing: a different padding id gives the same loss
    with torch.no_grad():
        ids2 = ids.clone()
        ids2[targets == IGNORE_INDEX] = 5
        for i, r in enumerate(records):
            ids2[i, len(r) - 1] = r[-1]
        assert torch.allclose(model(ids2, labels=targets).loss, loss, rtol=0, atol=1e-6)
    grads = grads_by_name(model)
    assert torch.all(grads["model.embed_tokens.weight"][model.config.padding_row] == 0)
    s = grad_summary(model, grads)
    expected = {
        "seq_len": CLI_SEQ_LEN,
        "norm": scheme,
        "loss": float(loss.detach()),
        "perplexity": math.exp(float(loss.detach())),
        "tokens": tokens,
        "grad_norms": {
            "loss": float(loss.detach()),
            "embedding": s["embedding"],
            "layers": s["layers"],
            "final_norm": s["final_norm"],
            "lm_head": s["lm_head"],
            "parameters": s["parameters"],
        },
    }
    write_json(os.path.join(out_dir, "expected.json"), expected)
    return {"dir": out_dir, "loss": float(loss.detach()), "total": s["total"], "layers": [e["grad_norm"] for e in s["layers"]]}


def dir_size(d: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cfg = small_config()
    ids, targets = make_inputs(cfg.vocab_size)
    only = set(sys.argv[1:])  # parity folders to (re)write; all fixtures when none is named
    unknown = only - set(SCHEMES)
    if unknown:
        sys.exit(f"unknown parity folder(s): {sorted(unknown)}; known: {sorted(SCHEMES)}")
    rows = []
    for i, (folder, scheme) in enumerate(SCHEMES.items()):
        if not only or folder in only:
            rows.append((f"parity/{folder}", scheme, parity_fixture(folder, scheme, 1000 + i, ids, targets)))
    records = cli_records(cfg.vocab_size)
    for i, (folder, scheme) in enumerate(OFFICIAL_SCHEMES.items()):
        if not only:
            rows.append((f"official/{folder}", scheme, official_fixture(folder, scheme, 2000 + i, records)))

    print(f"{'fixture':20s} {'--norm':10s} {'loss':>9s} {'total|g|':>9s}  {'layer grad norms':34s} {'size':>8s}")
    total = 0
    for name, scheme, r in rows:
        size = dir_size(r["dir"])
        total += size
        layers = " ".join(f"{g:.2e}" for g in r["layers"])
        print(f"{name:20s} {scheme:10s} {r['loss']:9.5f} {r['total']:9.4f}  {layers:34s} {size / 1024:6.1f}KB")
    print(f"total {total / 1024:.1f} KB in {len(rows)} fixture folders")


if __name__ == "__main__":
    main()
