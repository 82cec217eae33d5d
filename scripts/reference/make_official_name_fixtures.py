"""Writes the fixtures that pin each official NORM_TYPE to what the official code builds (deterministic).

    pip install -r scripts/requirements-reference.txt
    python3 scripts/reference/make_official_name_fixtures.py

The model comes from official_reading.py (an independent reading of the official modeling_llama.py),
not from mixln_reference.py; the script also checks that mixln_reference.py (which follows the
Swift NormPlan) agrees with it, in forward and in init.

Tests/MixLNModelTests/Fixtures/official-names/:
- inputs.json: batch 2, seq_len 12, input_ids and aligned targets (B*T, row-major; HF shift, last
  position and 2 mid-sequence targets -100; the frozen row V-1 is an input once).
- <NORM_TYPE>/config.json (official keys, norm_type, post_num only where the run sets POST_NUM; no
  norm_plan), model.safetensors (fp32, official names), expected.json (loss, predicted_tokens,
  logits[0, :3, :8]) and hidden_states.safetensors (layer_input.l, l = 0..L, shape (B, T, C)), all
  computed in float64 from the fp32 weights; expected.json also has loss_float32 (torch's fp32
  forward) and fp32_error, the largest relative distance of torch's fp32 layer inputs and logits
  from the float64 ones (the rounding an fp32 engine cannot avoid; ~1e-5 for deeppost, whose
  up-scaled init makes it ill-conditioned, ~1e-7 for the others).
  Model: hidden 16, intermediate 32, 2 heads, 9 layers (so pre_post's fixed 7 Pre-LN layers leave
  two Post-LN ones), vocab 64. Weights: the official init, then norm weights 1 + 0.1 N(0, 1).
- init_std.json: for a wider model (hidden 64, intermediate 128, 4 heads, 9 layers, vocab 64) and
  each NORM_TYPE (with its post_num), the std the official init gives every projection, the
  embedding (padding row excluded) and lm_head, and torch's sample std (root mean square) of one
  official init, which must lie within INIT_TOLERANCE of it.
"""
from __future__ import annotations

import copy
import json
import math
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mixln_reference as ref  # noqa: E402
from official_reading import OfficialConfig, OfficialLlama, RMSNorm  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "Tests", "MixLNModelTests", "Fixtures", "official-names")

# NORM_TYPE -> POST_NUM as the run sets it (None: unset, the official default 1 applies).
RUNS = {"pre": None, "post": None, "sandwich": None, "post_pre": 3, "pre_post": None, "scale_pre": None,
        "scale_post_pre": None, "deeppost": None, "post_pre_post_pre": None}
INIT_RUNS = {**RUNS, "scale_post_pre": 2}
BATCH, SEQ_LEN = 2, 12
# Sample std of n >= 4032 N(0, s) draws: relative standard error 1/sqrt(2n) <= 1.1%; 5.5% is 5 sigma.
INIT_TOLERANCE = 0.055


def forward_config() -> OfficialConfig:
    return OfficialConfig(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=9,
                          vocab_size=64)


def init_config() -> OfficialConfig:
    return OfficialConfig(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_hidden_layers=9,
                          vocab_size=64)


def write_json(path: str, obj) -> None:
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def config_json(cfg: OfficialConfig, norm_type: str, post_num) -> dict:
    d = {"hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
         "num_attention_heads": cfg.num_attention_heads, "num_hidden_layers": cfg.num_hidden_layers,
         "vocab_size": cfg.vocab_size, "max_sequence_length": cfg.max_sequence_length,
         "rms_norm_eps": cfg.rms_norm_eps, "initializer_range": cfg.initializer_range,
         "pad_token_id": cfg.pad_token_id, "model_type": "llama", "architectures": ["LLaMAForCausalLM"],
         "norm_type": norm_type}
    if post_num is not None:
        d["post_num"] = post_num
    return d


def reference_scheme(norm_type: str, post_num) -> str:
    return norm_type if post_num is None else f"{norm_type}:{post_num}"


def make_inputs(vocab: int):
    g = torch.Generator().manual_seed(8)
    ids = torch.randint(0, vocab - 1, (BATCH, SEQ_LEN), generator=g)
    ids[1, 5] = vocab - 1                  # the frozen padding row, not at position 0 (see README)
    targets = torch.full_like(ids, ref.IGNORE_INDEX)
    targets[:, :-1] = ids[:, 1:]
    targets[0, 4] = ref.IGNORE_INDEX
    targets[1, 9] = ref.IGNORE_INDEX
    return ids, targets


def relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """|a - b| / |b| in float64."""
    return float((a.double() - b.double()).norm() / b.double().norm())


def rms(t: torch.Tensor) -> float:
    return float(t.double().pow(2).mean().sqrt())


def forward_fixture(norm_type: str, post_num, seed: int, ids, targets) -> dict:
    cfg = forward_config()
    model = OfficialLlama(cfg, norm_type, post_num)
    gen = torch.Generator().manual_seed(seed)
    model.official_init(gen)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, RMSNorm):
                m.weight.copy_(1.0 + 0.1 * torch.randn(m.weight.shape, generator=gen))
    def run(m):
        with torch.no_grad():
            logits, inputs = m(ids, return_layer_inputs=True)
            loss = F.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1), ignore_index=ref.IGNORE_INDEX)
        return logits, inputs, loss

    logits32, inputs32, loss32 = run(model)
    assert torch.isfinite(loss32)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    # The expected values come from the same fp32 weights in float64; fp32_error is how far torch's own
    # fp32 forward lands from them (deeppost's up-scaled init makes it ~1e-5, the others ~1e-7).
    logits, inputs, loss = run(copy.deepcopy(model).double())
    fp32_error = max(relative(a, b) for a, b in zip(inputs32 + [logits32], inputs + [logits]))

    # mixln_reference (our NormPlan's reading) must build the same tensors and the same function.
    rcfg = ref.ModelConfig(hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                           num_attention_heads=cfg.num_attention_heads, num_hidden_layers=cfg.num_hidden_layers,
                           vocab_size=cfg.vocab_size, max_sequence_length=cfg.max_sequence_length,
                           rms_norm_eps=cfg.rms_norm_eps, pad_token_id=cfg.pad_token_id)
    ours = ref.MixLNForCausalLM(rcfg, ref.make_plan(reference_scheme(norm_type, post_num), cfg.num_hidden_layers), init=False)
    ours.load_state_dict(state)   # strict: same names, same shapes
    with torch.no_grad():
        ours_loss = ours.double()(ids, labels=targets).loss
    assert abs(float(ours_loss) - float(loss)) <= 1e-12 * float(loss), (norm_type, float(ours_loss), float(loss))

    folder = os.path.join(OUT, norm_type)
    os.makedirs(folder, exist_ok=True)
    write_json(os.path.join(folder, "config.json"), config_json(cfg, norm_type, post_num))
    save_file({k: v.detach().float().contiguous() for k, v in state.items()}, os.path.join(folder, "model.safetensors"),
              metadata={"format": "pt"})
    save_file({f"layer_input.{l}": h.detach().float().contiguous() for l, h in enumerate(inputs)},
              os.path.join(folder, "hidden_states.safetensors"), metadata={"format": "pt"})
    write_json(os.path.join(folder, "expected.json"), {
        "norm_type": norm_type,
        "post_num": post_num,
        "loss": float(loss),
        "loss_float32": float(loss32),
        "fp32_error": fp32_error,
        "predicted_tokens": int((targets != ref.IGNORE_INDEX).sum()),
        "logits_slice": {"shape": [3, 8], "index": "logits[0, :3, :8]",
                         "values": [float(v) for v in logits[0, :3, :8].reshape(-1)]},
    })
    return {"loss": float(loss), "blocks": " ".join(l.block for l in model.model.layers)}


def init_fixture(seed: int) -> dict:
    cfg = init_config()
    out = {"config": {"hidden_size": cfg.hidden_size, "intermediate_size": cfg.intermediate_size,
                      "num_attention_heads": cfg.num_attention_heads, "num_hidden_layers": cfg.num_hidden_layers,
                      "vocab_size": cfg.vocab_size, "initializer_range": cfg.initializer_range,
                      "pad_token_id": cfg.pad_token_id},
           "tolerance": INIT_TOLERANCE, "runs": {}}
    for i, (norm_type, post_num) in enumerate(INIT_RUNS.items()):
        model = OfficialLlama(cfg, norm_type, post_num)
        model.official_init(torch.Generator().manual_seed(seed + i))
        expected = model.expected_init_std()
        params = dict(model.named_parameters())
        pad = cfg.vocab_size + cfg.pad_token_id
        sample = {}
        for name in expected:
            w = params[name].detach()
            if name == "model.embed_tokens.weight":
                assert torch.all(w[pad] == 0)
                w = torch.cat((w[:pad], w[pad + 1:]))
            sample[name] = rms(w)
            assert abs(sample[name] / expected[name] - 1) < INIT_TOLERANCE, (norm_type, name, sample[name], expected[name])
        # mixln_reference's init rule gives the same std for every projection.
        plan = ref.make_plan(reference_scheme(norm_type, post_num), cfg.num_hidden_layers)
        for l, lp in enumerate(plan.layers):
            for sub, names in (("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")), ("mlp", ("gate_proj", "up_proj", "down_proj"))):
                for p in names:
                    name = f"model.layers.{l}.{sub}.{p}.weight"
                    ours = ref.init_std(lp, p, params[name].shape, cfg.initializer_range)
                    assert math.isclose(ours, expected[name], rel_tol=1e-12), (norm_type, name, ours, expected[name])
        out["runs"][norm_type] = {"post_num": post_num, "std": expected,
                                   "torch_std": {k: float(f"{v:.6g}") for k, v in sample.items()}}
    return out


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    cfg = forward_config()
    ids, targets = make_inputs(cfg.vocab_size)
    write_json(os.path.join(OUT, "inputs.json"), {"batch": BATCH, "seq_len": SEQ_LEN,
                                                   "input_ids": [int(v) for v in ids.reshape(-1)],
                                                   "targets": [int(v) for v in targets.reshape(-1)]})
    print(f"{'NORM_TYPE':18s} {'POST_NUM':8s} {'loss':>9s}  blocks")
    for i, (norm_type, post_num) in enumerate(RUNS.items()):
        r = forward_fixture(norm_type, post_num, 3000 + i, ids, targets)
        print(f"{norm_type:18s} {str(post_num):8s} {r['loss']:9.5f}  {r['blocks']}")
    write_json(os.path.join(OUT, "init_std.json"), init_fixture(4000))
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(OUT) for f in fs)
    print(f"total {size / 1024:.1f} KB in {OUT}")


if __name__ == "__main__":
    main()
