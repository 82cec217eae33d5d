"""An independent reading of the official Mix-LN model (github.com/pixeli99/MixLN,
peft_pretraining/modeling_llama.py), per official NORM_TYPE, written from that file's behaviour
and not from our NormPlan: it decides each layer's block and each weight's init the way the
official code does, with its own conditions and constants. The fixtures it writes check that
`--norm <NORM_TYPE>` in Swift builds exactly this.

What the official code does, as read here (L = num_hidden_layers, i = 0-based layer index,
POST_NUM from the environment, default 1):

| NORM_TYPE | block of layer i | init, besides N(0, 0.02) |
|---|---|---|
| pre, scale_pre | Pre-LN | scale_pre: o_proj, down_proj ~ N(0, 0.02/sqrt(2L)) in every layer |
| post | Post-LN | - |
| deeppost | Post-LN with the skip path times 2.8284271247461903 (sqrt 8) | v/o/gate/up/down xavier_normal_(gain=(8L)^(1/4)), q/k xavier_normal_(gain=1) |
| sandwich | input + output norm on both sublayers | - |
| post_pre, scale_post_pre | Post-LN if i < POST_NUM else Pre-LN | scale_post_pre: the scaled o/down init only where i >= POST_NUM |
| pre_post | Pre-LN if i < 7 (hard-coded; POST_NUM unused) else Post-LN | - |
| post_pre_post_pre | Pre-LN if (i + 1) % 4 == 0 else Post-LN | - |

Embedding N(0, sqrt(2/5)) with padding_idx = pad_token_id (-1: row V-1) zeroed, RMSNorm weights 1,
lm_head N(0, 0.02). RoPE base 10000, rotate_half, causal attention with scale 1/sqrt(d_head) (RoPE table and a float64
input's RMS variance in float64 here, fp32 there: the only liberties taken, so that a float64 forward
of this reading is exact; in fp32 they differ by an ulp at most).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

NORM_TYPES = ("pre", "post", "sandwich", "post_pre", "pre_post", "scale_pre", "scale_post_pre", "deeppost",
              "post_pre_post_pre")
OFFICIAL_DEFAULT_POST_NUM = 1      # int(os.getenv('POST_NUM', '1'))
OFFICIAL_PRE_POST_PRE_LAYERS = 7   # pre_post's self.max_pre_norm_layer = 7
DEEPPOST_RESIDUAL = 2.8284271247461903


@dataclass
class OfficialConfig:
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_hidden_layers: int
    vocab_size: int
    max_sequence_length: int = 32
    rms_norm_eps: float = 1e-6
    initializer_range: float = 0.02
    pad_token_id: int = -1


def block_of(norm_type: str, i: int, post_num: int) -> str:
    """'pre', 'post' or 'sandwich': the official LlamaDecoderLayer branch taken by layer i."""
    if norm_type in ("pre", "scale_pre"):
        return "pre"
    if norm_type in ("post", "deeppost"):
        return "post"
    if norm_type == "sandwich":
        return "sandwich"
    if norm_type == "pre_post":
        return "pre" if i < OFFICIAL_PRE_POST_PRE_LAYERS else "post"
    if norm_type in ("post_pre", "scale_post_pre"):
        return "post" if i < post_num else "pre"
    if norm_type == "post_pre_post_pre":
        return "pre" if (i + 1) % 4 == 0 else "post"
    raise ValueError(f"not an official NORM_TYPE this reading covers: {norm_type}")


def init_rule(norm_type: str, i: int, post_num: int, projection: str, num_layers: int) -> tuple:
    """('normal', std multiplier of initializer_range) or ('xavier', gain) for one projection of layer i,
    in the order the official _init_weights tests its flags: deeppost, deeppost q/k, scaled, plain."""
    if norm_type == "deeppost":
        if projection in ("q_proj", "k_proj"):
            return ("xavier", 1.0)
        return ("xavier", (num_layers * 8) ** 0.25)
    scaled = norm_type == "scale_pre" or (norm_type == "scale_post_pre" and i >= post_num)
    if scaled and projection in ("o_proj", "down_proj"):
        return ("normal", 1.0 / (2 * num_layers) ** 0.5)
    return ("normal", 1.0)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        # The official variance is fp32 (at least; float64 stays float64 here, for an exact float64 forward).
        variance = x.to(torch.promote_types(x.dtype, torch.float32)).pow(2).mean(-1, keepdim=True)
        return self.weight * (x * torch.rsqrt(variance + self.eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg: OfficialConfig):
        super().__init__()
        C = cfg.hidden_size
        self.heads, self.head_dim = cfg.num_attention_heads, C // cfg.num_attention_heads
        self.q_proj = nn.Linear(C, C, bias=False)
        self.k_proj = nn.Linear(C, C, bias=False)
        self.v_proj = nn.Linear(C, C, bias=False)
        self.o_proj = nn.Linear(C, C, bias=False)
        # The official table is computed in fp32; this one in float64 (rounded to the forward's dtype at
        # use), so that a float64 forward is the exact function. In fp32 the two differ by an ulp.
        inv_freq = 1.0 / (10000 ** (torch.arange(0, self.head_dim, 2, dtype=torch.float64) / self.head_dim))
        freqs = torch.einsum("i,j->ij", torch.arange(cfg.max_sequence_length, dtype=torch.float64), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = (p(x).view(B, T, self.heads, self.head_dim).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        cos, sin = self.cos[:T].to(x.dtype), self.sin[:T].to(x.dtype)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        o = F.scaled_dot_product_attention(q, k, v, dropout_p=0.0, is_causal=True)
        return self.o_proj(o.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, cfg: OfficialConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """One official decoder layer: the norms it creates and the branch it runs, by NORM_TYPE."""

    def __init__(self, cfg: OfficialConfig, index: int, norm_type: str, post_num: int):
        super().__init__()
        self.block = block_of(norm_type, index, post_num)
        self.skip_scale = DEEPPOST_RESIDUAL if norm_type == "deeppost" else 1.0
        self.self_attn = Attention(cfg)
        self.mlp = MLP(cfg)
        C, eps = cfg.hidden_size, cfg.rms_norm_eps
        names = {"pre": ("input_layernorm", "post_attention_layernorm"),
                 "post": ("post_attention_layernorm", "post_feedforward_layernorm"),
                 "sandwich": ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm",
                              "post_feedforward_layernorm")}[self.block]
        for name in names:
            self.add_module(name, RMSNorm(C, eps))

    def forward(self, h):
        if self.block == "pre":
            h = h + self.self_attn(self.input_layernorm(h))
            return h + self.mlp(self.post_attention_layernorm(h))
        if self.block == "post":
            h = self.post_attention_layernorm(self.skip_scale * h + self.self_attn(h))
            return self.post_feedforward_layernorm(self.skip_scale * h + self.mlp(h))
        h = h + self.post_attention_layernorm(self.self_attn(self.input_layernorm(h)))
        return h + self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))


class Model(nn.Module):
    """LlamaModel: embedding, decoder layers, final norm (the state dict's `model.` prefix)."""

    def __init__(self, cfg: OfficialConfig, norm_type: str, post_num: int):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.layers = nn.ModuleList(DecoderLayer(cfg, i, norm_type, post_num) for i in range(cfg.num_hidden_layers))
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)


class OfficialLlama(nn.Module):
    """LlamaForCausalLM as the official code builds it for one NORM_TYPE (and POST_NUM)."""

    def __init__(self, cfg: OfficialConfig, norm_type: str, post_num: Optional[int] = None):
        super().__init__()
        self.cfg, self.norm_type = cfg, norm_type
        self.post_num = OFFICIAL_DEFAULT_POST_NUM if post_num is None else post_num
        self.model = Model(cfg, norm_type, self.post_num)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def init_rules(self) -> Dict[str, tuple]:
        """Each linear/embedding weight's official init: ('normal', std) or ('xavier', gain)."""
        cfg, L = self.cfg, self.cfg.num_hidden_layers
        rules = {"model.embed_tokens.weight": ("normal", (2 / 5) ** 0.5), "lm_head.weight": ("normal", cfg.initializer_range)}
        for i in range(L):
            for sub, names in (("self_attn", ("q_proj", "k_proj", "v_proj", "o_proj")), ("mlp", ("gate_proj", "up_proj", "down_proj"))):
                for p in names:
                    kind, value = init_rule(self.norm_type, i, self.post_num, p, L)
                    rules[f"model.layers.{i}.{sub}.{p}.weight"] = (kind, cfg.initializer_range * value if kind == "normal" else value)
        return rules

    def expected_init_std(self) -> Dict[str, float]:
        """The std each rule gives: normal -> its std; xavier -> gain * sqrt(2 / (fan_in + fan_out))."""
        out = {}
        params = dict(self.named_parameters())
        for name, (kind, value) in self.init_rules().items():
            fan_out, fan_in = params[name].shape
            out[name] = value if kind == "normal" else value * math.sqrt(2.0 / (fan_in + fan_out))
        return out

    @torch.no_grad()
    def official_init(self, generator: torch.Generator) -> None:
        """The official _init_weights, applied with torch's own initializers."""
        params = dict(self.named_parameters())
        for name, (kind, value) in self.init_rules().items():
            w = params[name]
            if kind == "xavier":
                nn.init.xavier_normal_(w, gain=value, generator=generator)
            else:
                w.normal_(0.0, value, generator=generator)
        pad = self.model.embed_tokens.padding_idx
        self.model.embed_tokens.weight[pad].zero_()
        for m in self.modules():
            if isinstance(m, RMSNorm):
                m.weight.fill_(1.0)

    def forward(self, ids, return_layer_inputs: bool = False):
        h = self.model.embed_tokens(ids)
        inputs = []
        for layer in self.model.layers:
            inputs.append(h)
            h = layer(h)
        inputs.append(h)
        logits = self.lm_head(self.model.norm(h))
        return (logits, inputs) if return_layer_inputs else logits
