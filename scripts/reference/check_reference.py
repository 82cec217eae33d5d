"""Sanity checks for mixln_reference.py (run: python3 scripts/reference/check_reference.py).

1. Parameter names per scheme follow design.md §5.
2. Loss at init on random tokens is close to ln(vocab) for every scheme.
3. torch.autograd.gradcheck in float64 on a tiny config, for several placements.
4. Loss conventions: shifted input_ids == explicit aligned labels; -100 is ignored.
"""
import math
import os
import sys

import torch
from torch.func import functional_call

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mixln_reference import (ModelConfig, MixLNForCausalLM, make_plan, shifted_labels)  # noqa: E402

SCHEMES = ["pre", "post", "mix:1", "mix-reversed:1", "sandwich", "peri", "deepnorm", "lns",
           "scaled-pre", "interleaved:2"]


def check_names():
    cfg = ModelConfig(hidden_size=16, intermediate_size=24, num_attention_heads=2,
                      num_hidden_layers=2, vocab_size=50)
    expect = {
        "pre": ["input_layernorm", "post_attention_layernorm"],
        "post": ["post_attention_layernorm", "post_feedforward_layernorm"],
        "sandwich": ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                     "post_feedforward_layernorm"],
    }
    for scheme, norms in expect.items():
        names = set(MixLNForCausalLM(cfg, make_plan(scheme, 2)).state_dict())
        for n in norms:
            assert f"model.layers.1.{n}.weight" in names, (scheme, n)
        layer_norms = {k for k in names if k.startswith("model.layers.0.") and "layernorm" in k}
        assert len(layer_norms) == len(norms), (scheme, layer_norms)
    peri = set(MixLNForCausalLM(cfg, make_plan("peri", 2)).state_dict())
    assert "model.embed_norm.weight" in peri and "model.norm.weight" in peri and "lm_head.weight" in peri
    print("names: ok;", sorted(n for n in peri if ".layers.0." not in n or "proj" not in n)[:12])


def check_init_loss():
    torch.manual_seed(0)
    cfg = ModelConfig.preset("9m")
    ids = torch.randint(0, cfg.vocab_size, (2, 64))
    print(f"init loss on random tokens (ln 32000 = {math.log(32000):.4f}):")
    for scheme in SCHEMES:
        torch.manual_seed(1)
        m = MixLNForCausalLM(cfg, make_plan(scheme, cfg.num_hidden_layers))
        with torch.no_grad():
            loss = m(ids).loss.item()
        print(f"  {scheme:15s} {loss:.4f}")
        assert abs(loss - math.log(32000)) < 0.5, (scheme, loss)


def check_loss_conventions():
    torch.manual_seed(0)
    cfg = ModelConfig(hidden_size=16, intermediate_size=24, num_attention_heads=2,
                      num_hidden_layers=2, vocab_size=50)
    m = MixLNForCausalLM(cfg, make_plan("mix:1", 2))
    ids = torch.randint(1, 50, (3, 9))
    ids[1, 6:] = 0                                   # padding, pad id 0
    with torch.no_grad():
        a = m(ids).loss
        b = m(ids, labels=shifted_labels(ids)).loss
        assert torch.allclose(a, b), (a, b)
        lab = shifted_labels(ids, pad_token_id=0)
        c = m(ids, labels=lab).loss
        logits = m(ids, compute_loss=False).logits
        lp = torch.log_softmax(logits, -1)
        keep = lab != -100
        manual = -lp[keep].gather(-1, lab[keep][:, None]).mean()
        assert torch.allclose(c, manual), (c, manual)
    print(f"loss conventions: ok (shift {a.item():.5f} == aligned {b.item():.5f}; pad-masked {c.item():.5f})")


def check_structure():
    """Hand-written formulas vs the plan-driven code, RoPE relative position, init scales."""
    import torch.nn.functional as F
    from mixln_reference import rope_cos_sin, rotate_half
    torch.manual_seed(0)
    cfg = ModelConfig(hidden_size=16, intermediate_size=24, num_attention_heads=2,
                      num_hidden_layers=4, vocab_size=50)
    L = cfg.num_hidden_layers
    x = torch.randn(2, 7, 16, dtype=torch.float64)

    def rms(t, w):
        return w * t / torch.sqrt(t.pow(2).mean(-1, keepdim=True) + cfg.rms_norm_eps)

    def dyt(t, norm):
        return norm.weight * torch.tanh(norm.alpha * t)

    for scheme in ["pre", "post", "sandwich", "deepnorm", "lns", "dyt-pre", "dyt-post"]:
        m = MixLNForCausalLM(cfg, make_plan(scheme, L)).double()
        with torch.no_grad():
            for n, p in m.named_parameters():
                if "norm" in n:
                    p.uniform_(0.5, 1.5)
        lay = m.model.layers[2]
        A, M = lay.self_attn, lay.mlp
        with torch.no_grad():
            got = lay(x)
            if scheme == "dyt-pre":
                h = x + A(dyt(x, lay.input_layernorm))
                want = h + M(dyt(h, lay.post_attention_layernorm))
            elif scheme == "dyt-post":
                h = dyt(x + A(x), lay.post_attention_layernorm)
                want = dyt(h + M(h), lay.post_feedforward_layernorm)
            elif scheme == "pre":
                h = x + A(rms(x, lay.input_layernorm.weight))
                want = h + M(rms(h, lay.post_attention_layernorm.weight))
            elif scheme == "lns":
                s = 1 / math.sqrt(3)
                h = x + A(s * rms(x, lay.input_layernorm.weight))
                want = h + M(s * rms(h, lay.post_attention_layernorm.weight))
            elif scheme in ("post", "deepnorm"):
                a = (2 * L) ** 0.25 if scheme == "deepnorm" else 1.0
                h = rms(a * x + A(x), lay.post_attention_layernorm.weight)
                want = rms(a * h + M(h), lay.post_feedforward_layernorm.weight)
            else:
                h = x + rms(A(rms(x, lay.input_layernorm.weight)), lay.post_attention_layernorm.weight)
                want = h + rms(M(rms(h, lay.pre_feedforward_layernorm.weight)),
                               lay.post_feedforward_layernorm.weight)
        assert torch.allclose(got, want, atol=1e-12), scheme
    # RoPE: <R_m q, R_n k> depends only on m - n
    cos, sin = rope_cos_sin(12, 8, 10000.0, "cpu", torch.float64)
    q, k = torch.randn(8, dtype=torch.float64), torch.randn(8, dtype=torch.float64)
    rq = q * cos + rotate_half(q) * sin
    rk = k * cos + rotate_half(k) * sin
    assert torch.allclose(rq[5] @ rk[2], rq[9] @ rk[6]) and torch.allclose(rq[0], q)
    # init: deepnorm beta on v/o/mlp, scaled-pre 1/sqrt(2L) on o/down, embedding sqrt(2/5)
    big = ModelConfig(hidden_size=256, intermediate_size=688, num_attention_heads=4,
                      num_hidden_layers=4, vocab_size=32000)
    dn = MixLNForCausalLM(big, make_plan("deepnorm", 4))
    beta = 32 ** -0.25
    lay = dn.model.layers[0]
    assert abs(lay.self_attn.q_proj.weight.std().item() - 0.02) < 1e-3
    assert abs(lay.self_attn.v_proj.weight.std().item() - 0.02 * beta) < 1e-3
    assert abs(lay.mlp.down_proj.weight.std().item() - 0.02 * beta) < 1e-3
    assert abs(dn.model.embed_tokens.weight.std().item() - math.sqrt(0.4)) < 3e-3
    sp = MixLNForCausalLM(big, make_plan("scaled-pre", 4))
    assert abs(sp.model.layers[3].self_attn.o_proj.weight.std().item() - 0.02 / math.sqrt(8)) < 5e-4
    print("structure (hand-written sublayer formulas, RoPE relative position, init scales): ok")


def check_padding_row():
    """pad_token_id = -1: embedding row V-1 is zero at init and never gets gradient (padding_idx)."""
    cfg = ModelConfig(hidden_size=16, intermediate_size=24, num_attention_heads=2,
                      num_hidden_layers=2, vocab_size=50)
    assert cfg.pad_token_id == -1 and cfg.padding_row == 49
    torch.manual_seed(0)
    m = MixLNForCausalLM(cfg, make_plan("post", 2))
    emb = m.model.embed_tokens
    assert emb.padding_idx == 49 and torch.all(emb.weight[49] == 0)
    ids = torch.randint(0, 50, (2, 8))
    ids[0, 3] = 49
    loss = m(ids).loss
    loss.backward()
    assert torch.isfinite(loss) and torch.all(emb.weight.grad[49] == 0)
    assert emb.weight.grad[ids[0, 2]].abs().sum() > 0
    print("padding row: ok (row V-1 zero, no gradient)")


def check_gradcheck():
    cfg = ModelConfig(hidden_size=8, intermediate_size=12, num_attention_heads=2,
                      num_hidden_layers=2, vocab_size=11)
    ids = torch.tensor([[1, 4, 2, 9, 3], [7, 0, 5, 5, 10]])
    for scheme in ["pre", "post", "mix:1", "sandwich", "peri", "deepnorm", "lns", "dyt-peri", "dyt-mix:1"]:
        torch.manual_seed(3)
        m = MixLNForCausalLM(cfg, make_plan(scheme, 2)).double()
        # perturb norm weights away from 1 so their gradients are exercised generically
        with torch.no_grad():
            for n, p in m.named_parameters():
                if "norm" in n:
                    p.add_(0.1 * torch.randn_like(p))
                elif "proj" in n or "lm_head" in n:
                    p.mul_(10.0)                   # make the nonlinearities matter
        names = [n for n, _ in m.named_parameters()]
        params = tuple(p.detach().clone().requires_grad_(True) for _, p in m.named_parameters())

        def f(*ps):
            return functional_call(m, dict(zip(names, ps)), (ids,)).loss

        ok = torch.autograd.gradcheck(f, params, eps=1e-6, atol=1e-7, rtol=1e-5)
        n = sum(p.numel() for p in params)
        print(f"  gradcheck float64 {scheme:10s} ({n} params): {'ok' if ok else 'FAIL'}")


if __name__ == "__main__":
    check_names()
    check_loss_conventions()
    check_padding_row()
    check_structure()
    check_init_loss()
    print("gradcheck (torch.autograd.gradcheck, float64, tiny config):")
    check_gradcheck()
    print("all checks passed")
