"""Readable PyTorch reference for MixLN: a LLaMA-style decoder whose layer-norm
placement is data (a per-layer NormPlan), matching /work/shared/design.md §3-§5.

Used only to generate fixtures and as the speed bar; the Swift tests never need it.

    from mixln_reference import ModelConfig, make_plan, MixLNForCausalLM
    cfg = ModelConfig.preset("20m")
    model = MixLNForCausalLM(cfg, make_plan("mix:1", cfg.num_hidden_layers))
    loss = model(input_ids).loss
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

IGNORE_INDEX = -100

# ----------------------------------------------------------------------------------------------
# Config and presets (hidden / intermediate / heads / layers), vocab 32000, eps 1e-6
# ----------------------------------------------------------------------------------------------

PRESETS = {
    "9m": (128, 352, 4, 4),
    "20m": (256, 688, 4, 4),
    "35m": (384, 1024, 8, 6),
    "60m": (512, 1376, 8, 8),
    "71m": (512, 1368, 8, 12),
    "130m": (768, 2048, 12, 12),
    "250m": (768, 2560, 16, 24),
    "350m": (1024, 2736, 16, 24),
    "1b": (2048, 5461, 32, 24),
    "7b": (4096, 11008, 32, 32),
}


@dataclass
class ModelConfig:
    hidden_size: int = 256
    intermediate_size: int = 688
    num_attention_heads: int = 4
    num_hidden_layers: int = 4
    vocab_size: int = 32000
    rms_norm_eps: float = 1e-6
    max_sequence_length: int = 1024
    initializer_range: float = 0.02
    embedding_init_std: float = math.sqrt(2.0 / 5.0)
    rope_theta: float = 10000.0
    # Official configs give pad_token_id = -1: nn.Embedding(padding_idx=-1) makes row V-1 a padding
    # row (zero at init, never updated). None: no padding row.
    pad_token_id: Optional[int] = -1

    @staticmethod
    def preset(name: str, **overrides) -> "ModelConfig":
        key = name.lower().removeprefix("llama_")
        h, i, n, l = PRESETS[key]
        return ModelConfig(hidden_size=h, intermediate_size=i, num_attention_heads=n,
                           num_hidden_layers=l, **overrides)

    @property
    def padding_row(self) -> Optional[int]:
        """The embedding row PyTorch's padding_idx freezes (V-1 for pad_token_id = -1), as the Swift
        ModelConfig.embeddingPaddingRow: None when pad_token_id is None or outside the vocabulary."""
        if self.pad_token_id is None:
            return None
        row = self.pad_token_id + self.vocab_size if self.pad_token_id < 0 else self.pad_token_id
        return row if 0 <= row < self.vocab_size else None

    @property
    def head_dim(self) -> int:
        assert self.hidden_size % self.num_attention_heads == 0
        return self.hidden_size // self.num_attention_heads


# ----------------------------------------------------------------------------------------------
# Norm plan: data, not code paths
# ----------------------------------------------------------------------------------------------

@dataclass
class SublayerPlan:
    input_norm: bool = False
    output_norm: bool = False
    post_norm: bool = False
    residual_scale: float = 1.0
    input_norm_scale: float = 1.0
    # A learnable lambda on the output before the residual add, r = a*x + lambda*g (ReZero, SkipInit:
    # one scalar; LayerScale: one per channel): {"per_channel": bool, "init": float}, or None.
    output_scale: Optional[dict] = None
    # GPAS (Chen et al. 2025) with the layer's gate a: "shortcut" (r = a_res*(x - silu(a)*x.detach()) + g,
    # post-norm sublayers) or "after_residual" (y = r - silu(a)*r.detach()), or None.
    gpas: Optional[str] = None
    # HybridNorm's FFN: the skip path carries the input norm's output, r = N(x) + F(N(x)).
    skip_from_normed_input: bool = False


@dataclass
class LayerPlan:
    attention: SublayerPlan = field(default_factory=SublayerPlan)
    mlp: SublayerPlan = field(default_factory=SublayerPlan)
    # Init rule: gain per projection ("q_proj", "v_proj", "o_proj", "down_proj", ...; default 1) of
    # init_distribution: "normal" -> N(0, initializer_range * gain); "xavier_normal" -> N(0, gain *
    # sqrt(2 / (fan_in + fan_out))), as torch.nn.init.xavier_normal_ (the official deeppost).
    init_scales: Dict[str, float] = field(default_factory=dict)
    init_distribution: str = "normal"
    # QK-norm: RMSNorm on q and k after projection, before RoPE: "none", "head" (each head's
    # head_dim channels, one weight shared by the heads: Qwen3) or "full" (the whole projection: OLMo 2).
    qk_norm: str = "none"
    # Init value of the input norms' weights (1; learnable LayerNorm Scaling: 1/sqrt(l)).
    input_norm_weight: float = 1.0
    # Normalize v as q and k (qk_norm says how): HybridNorm's QKV-norm.
    value_norm: bool = False


@dataclass
class NormPlan:
    layers: List[LayerPlan]
    embedding_norm: bool = False
    name: str = "custom"
    # What every norm site computes: "rms" (RMSNorm) or "dyt" (Dynamic Tanh, gamma * tanh(alpha * x), Zhu
    # et al. 2025), with alpha's init: dyt_alpha_attention (A) at the attention sublayers' sites and the
    # embedding norm, dyt_alpha_mlp (B) at the MLP sublayers' sites and the final norm. DyT also scales
    # the embedding output by a learnable scalar from sqrt(hidden_size). QK-norm sites have no DyT form.
    norm_fn: str = "rms"
    dyt_alpha_attention: float = 0.5
    dyt_alpha_mlp: float = 0.5

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "NormPlan":
        layers = [LayerPlan(attention=SublayerPlan(**l["attention"]), mlp=SublayerPlan(**l["mlp"]),
                            init_scales=dict(l.get("init_scales", {})),
                            init_distribution=l.get("init_distribution", "normal"),
                            qk_norm=l.get("qk_norm", "none"),
                            input_norm_weight=float(l.get("input_norm_weight", 1.0)),
                            value_norm=bool(l.get("value_norm", False))) for l in d["layers"]]
        return NormPlan(layers=layers, embedding_norm=bool(d.get("embedding_norm", False)),
                        name=d.get("name", "custom"), norm_fn=d.get("norm_fn", "rms"),
                        dyt_alpha_attention=float(d.get("dyt_alpha_attention", 0.5)),
                        dyt_alpha_mlp=float(d.get("dyt_alpha_mlp", 0.5)))


def _pre() -> LayerPlan:
    return LayerPlan(SublayerPlan(input_norm=True), SublayerPlan(input_norm=True))


def _post() -> LayerPlan:
    return LayerPlan(SublayerPlan(post_norm=True), SublayerPlan(post_norm=True))


def _sandwich() -> LayerPlan:
    return LayerPlan(SublayerPlan(input_norm=True, output_norm=True),
                     SublayerPlan(input_norm=True, output_norm=True))


# The official code's POST_NUM when unset (os.getenv('POST_NUM', '1')) and pre_post's fixed split.
OFFICIAL_DEFAULT_POST_NUM = 1
OFFICIAL_PRE_POST_PRE_LAYERS = 7


def _count(arg: Optional[str], num_layers: int, default: Optional[int] = None) -> int:
    """'3' -> 3 layers; '0.25' -> floor(0.25 L); None -> `default`, or floor(0.25 L) without one."""
    if arg is None or arg == "":
        return int(math.floor(0.25 * num_layers)) if default is None else default
    if "." in arg:
        return int(math.floor(float(arg) * num_layers))
    k = int(arg)
    if not 0 <= k <= num_layers:
        raise ValueError(f"layer count {k} outside 0...{num_layers}")
    return k


DYT_PREFIX = "dyt-"


def make_plan(scheme: str, num_layers: int) -> NormPlan:
    """Named schemes as factories over the plan (design.md §3); a "+qk-head" or "+qk-full" suffix
    adds QK-norm to every layer (Swift: --qk-norm head|full); a "dyt-" prefix puts DyT at every
    norm site (Swift: --norm-fn dyt), alpha_0 0.5 on both sides."""
    if scheme.lower().startswith(DYT_PREFIX):
        plan = make_plan(scheme[len(DYT_PREFIX):], num_layers)
        if plan.norm_fn == "dyt" or any(lp.qk_norm != "none" for lp in plan.layers):
            raise ValueError(f"{scheme!r}: DyT once, and not with QK-norm")
        plan.norm_fn = "dyt"
        plan.name = scheme
        return plan
    if scheme.endswith("+gpas"):
        plan = make_plan(scheme[:-len("+gpas")], num_layers)
        for lp in plan.layers:
            for sub in (lp.attention, lp.mlp):
                sub.gpas = "shortcut" if sub.post_norm else "after_residual"
        plan.name = scheme
        return plan
    base, _, qk = scheme.partition("+qk-")
    if qk:
        plan = make_plan(base, num_layers)
        if qk not in ("head", "full"):
            raise ValueError(f"unknown QK-norm {qk!r}")
        for lp in plan.layers:
            lp.qk_norm = qk
        plan.name = scheme
        return plan
    L = num_layers
    name, _, arg = scheme.partition(":")
    name = name.lower()
    arg = arg or None
    emb = False
    if name == "pre":
        layers = [_pre() for _ in range(L)]
    elif name == "post":
        layers = [_post() for _ in range(L)]
    elif name in ("mix", "post_pre"):
        k = _count(arg, L, OFFICIAL_DEFAULT_POST_NUM if name == "post_pre" else None)
        layers = [_post() if i < k else _pre() for i in range(L)]
    elif name == "mix-reversed":
        k = _count(arg, L)
        layers = [_pre() if i < k else _post() for i in range(L)]
    elif name == "pre_post":
        # The official pre_post: layers < 7 Pre-LN whatever L and POST_NUM.
        if arg is not None:
            raise ValueError("the official pre_post has no layer count (it ignores POST_NUM)")
        layers = [_pre() if i < OFFICIAL_PRE_POST_PRE_LAYERS else _post() for i in range(L)]
    elif name == "sandwich":
        layers = [_sandwich() for _ in range(L)]
    elif name == "peri":
        layers = [_sandwich() for _ in range(L)]
        emb = True
    elif name == "deepnorm":
        alpha = (2.0 * L) ** 0.25
        beta = (8.0 * L) ** -0.25
        layers = []
        for _ in range(L):
            lp = _post()
            lp.attention.residual_scale = alpha
            lp.mlp.residual_scale = alpha
            lp.init_scales = {p: beta for p in ("v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")}
            layers.append(lp)
    elif name in ("deepnorm-official", "deeppost"):
        # The official `deeppost` (a known fault, paper-facts.md): alpha = sqrt(8) whatever L; Xavier
        # normal init with gain (8L)^(1/4) (scaled *up*) on v/o/gate/up/down and gain 1 on q/k.
        gain = (8.0 * L) ** 0.25
        layers = []
        for _ in range(L):
            lp = _post()
            lp.attention.residual_scale = math.sqrt(8.0)
            lp.mlp.residual_scale = math.sqrt(8.0)
            lp.init_distribution = "xavier_normal"
            lp.init_scales = {p: gain for p in ("v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")}
            layers.append(lp)
    elif name == "lns":
        layers = []
        for i in range(L):
            lp = _pre()
            s = 1.0 / math.sqrt(i + 1)
            lp.attention.input_norm_scale = s
            lp.mlp.input_norm_scale = s
            layers.append(lp)
    elif name in ("scaled-pre", "scale_pre", "scaled-mix"):
        # Ours: scaled o_proj/down_proj init in every layer (scaled-mix: of mix:K).
        k = _count(arg, L) if name == "scaled-mix" else 0
        s = 1.0 / math.sqrt(2.0 * L)
        layers = []
        for i in range(L):
            lp = _post() if i < k else _pre()
            lp.init_scales = {"o_proj": s, "down_proj": s}
            layers.append(lp)
    elif name == "scale_post_pre":
        # The official scale_post_pre: post_pre whose Pre-LN layers (i >= POST_NUM) alone get scaled init.
        k = _count(arg, L, OFFICIAL_DEFAULT_POST_NUM)
        s = 1.0 / math.sqrt(2.0 * L)
        layers = []
        for i in range(L):
            lp = _post() if i < k else _pre()
            if i >= k:
                lp.init_scales = {"o_proj": s, "down_proj": s}
            layers.append(lp)
    elif name == "lns-learnable":
        layers = []
        for i in range(L):
            lp = _pre()
            lp.input_norm_weight = 1.0 / math.sqrt(i + 1)
            layers.append(lp)
    elif name == "reordered":                       # OLMo 2: x + N(F(x)), no input norm
        layers = [LayerPlan(SublayerPlan(output_norm=True), SublayerPlan(output_norm=True)) for _ in range(L)]
    elif name in ("rezero", "skipinit"):            # no norm, x + a*F(x), a from 0 (ReZero) or 1/sqrt(L) (SkipInit)
        a = 0.0 if name == "rezero" else 1.0 / math.sqrt(L)
        layers = [LayerPlan(SublayerPlan(output_scale={"per_channel": False, "init": a}),
                            SublayerPlan(output_scale={"per_channel": False, "init": a})) for _ in range(L)]
    elif name == "layerscale":                      # CaiT: Pre-LN, per-channel lambda from eps
        eps = float(arg) if arg is not None else (0.1 if L <= 18 else 1e-5 if L <= 24 else 1e-6)
        layers = []
        for _ in range(L):
            lp = _pre()
            lp.attention.output_scale = {"per_channel": True, "init": eps}
            lp.mlp.output_scale = {"per_channel": True, "init": eps}
            layers.append(lp)
    elif name in ("hybrid", "hybrid-star"):         # HybridNorm: QKV-norm attention, FFN N(h) + FFN(N(h))
        layers = []
        for i in range(L):
            if i == 0 and name == "hybrid-star":       # HybridNorm*: a Pre-LN first block (QKV-norm kept)
                lp = _pre()
            else:
                lp = LayerPlan(SublayerPlan(), SublayerPlan(input_norm=True, skip_from_normed_input=True))
            lp.qk_norm, lp.value_norm = "full", True
            layers.append(lp)
    elif name in ("interleaved", "post_pre_post_pre"):
        p = int(arg or 4)
        layers = [_pre() if (i + 1) % p == 0 else _post() for i in range(L)]
    else:
        raise ValueError(f"unknown norm scheme {scheme!r}")
    return NormPlan(layers=layers, embedding_norm=emb, name=scheme)


def norm_names(layer: LayerPlan) -> Dict[str, str]:
    """Map each norm *role* of a layer to its official weight name (design.md §5).

    Roles: attn_in, attn_out, attn_post, mlp_in, mlp_out, mlp_post (only those present).
    """
    a, m = layer.attention, layer.mlp
    names: Dict[str, str] = {}
    if a.input_norm:
        names["attn_in"] = "input_layernorm"
    if a.output_norm:
        names["attn_out"] = "post_attention_layernorm"
    if a.post_norm:
        names["attn_post"] = "post_attention_layernorm"
    if m.input_norm:
        used = "post_attention_layernorm" in names.values()
        names["mlp_in"] = "pre_feedforward_layernorm" if used else "post_attention_layernorm"
    if m.output_norm:
        names["mlp_out"] = "post_feedforward_layernorm"
    if m.post_norm:
        names["mlp_post"] = "post_feedforward_layernorm"
    values = list(names.values())
    if len(values) != len(set(values)):
        raise ValueError(f"plan {layer} maps two norms to one official name: {names}")
    return names


def init_std(layer: LayerPlan, projection: str, shape, initializer_range: float) -> float:
    """Init std of one projection (weight shape (fan_out, fan_in)) under the layer's init rule."""
    gain = layer.init_scales.get(projection, 1.0)
    if layer.init_distribution == "xavier_normal":
        fan_out, fan_in = shape
        return gain * math.sqrt(2.0 / (fan_in + fan_out))
    assert layer.init_distribution == "normal", layer.init_distribution
    return initializer_range * gain


# ----------------------------------------------------------------------------------------------
# Modules
# ----------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.to(torch.float32) if dtype in (torch.float16, torch.bfloat16) else x
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


class DyT(nn.Module):
    """Dynamic Tanh (Zhu, Chen, He, LeCun, Liu, CVPR 2025): weight * tanh(alpha * x), alpha one
    learnable scalar from alpha_init, weight per channel from 1, no bias (state_dict: `.weight`, `.alpha`)."""
    def __init__(self, dim: int, alpha_init: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.alpha = nn.Parameter(torch.full((1,), float(alpha_init)))
        self.alpha_init = alpha_init

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * torch.tanh(self.alpha * x)


def make_norm(cfg: "ModelConfig", plan: NormPlan, side: str) -> nn.Module:
    """The norm module of one site under the plan's norm function; `side` "attn" (alpha_0 = A: the
    attention sublayer's sites and the embedding norm) or "mlp" (B: the MLP's sites and the final norm)."""
    if plan.norm_fn == "rms":
        return RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
    assert plan.norm_fn == "dyt", plan.norm_fn
    return DyT(cfg.hidden_size, plan.dyt_alpha_attention if side == "attn" else plan.dyt_alpha_mlp)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(seq_len: int, head_dim: int, theta: float, device, dtype):
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    t = torch.arange(seq_len, dtype=torch.float64)
    freqs = torch.outer(t, inv_freq)                  # (T, d/2)
    emb = torch.cat((freqs, freqs), dim=-1)           # (T, d)  half-split convention
    return emb.cos().to(device=device, dtype=dtype), emb.sin().to(device=device, dtype=dtype)


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, use_sdpa: bool = False, qk_norm: str = "none", value_norm: bool = False):
        super().__init__()
        d = cfg.hidden_size
        self.n_heads, self.head_dim, self.theta = cfg.num_attention_heads, cfg.head_dim, cfg.rope_theta
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)
        self.qk_norm = qk_norm
        if qk_norm != "none":
            width = cfg.head_dim if qk_norm == "head" else d
            self.q_norm = RMSNorm(width, cfg.rms_norm_eps)
            self.k_norm = RMSNorm(width, cfg.rms_norm_eps)
            if value_norm:
                self.v_norm = RMSNorm(width, cfg.rms_norm_eps)
        self.value_norm = value_norm
        self.use_sdpa = use_sdpa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, D = x.shape
        H, Dh = self.n_heads, self.head_dim
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)  # (B, T, D)
        if self.qk_norm == "full":                             # OLMo 2: over the whole projection
            q, k = self.q_norm(q), self.k_norm(k)
            if self.value_norm:
                v = self.v_norm(v)
        q, k, v = q.view(B, T, H, Dh), k.view(B, T, H, Dh), v.view(B, T, H, Dh)
        if self.qk_norm == "head":                             # Qwen3: each head alone
            q, k = self.q_norm(q), self.k_norm(k)
            if self.value_norm:
                v = self.v_norm(v)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, H, T, Dh)
        cos, sin = rope_cos_sin(T, Dh, self.theta, x.device, x.dtype)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.use_sdpa:
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(Dh)  # (B, H, T, T)
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
            p = torch.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))
            p = p.to(q.dtype)
            o = p @ v
        return self.o_proj(o.transpose(1, 2).reshape(B, T, D))


class MLP(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Scale(nn.Module):
    """A learnable multiplier, one value or one per channel (state_dict name `<module>.weight`)."""
    def __init__(self, size: int, init: float):
        super().__init__()
        self.weight = nn.Parameter(torch.full((size,), float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * x


class DecoderLayer(nn.Module):
    def __init__(self, cfg: ModelConfig, plan: LayerPlan, use_sdpa: bool = False, model_plan: Optional[NormPlan] = None):
        super().__init__()
        self.plan = plan
        self.self_attn = Attention(cfg, use_sdpa, plan.qk_norm, plan.value_norm)
        self.mlp = MLP(cfg)
        self.role_to_name = norm_names(plan)
        model_plan = model_plan or NormPlan(layers=[plan])
        for role, name in self.role_to_name.items():
            self.add_module(name, make_norm(cfg, model_plan, role.partition("_")[0]))
        for prefix, sub in (("attention", plan.attention), ("mlp", plan.mlp)):
            if sub.output_scale is not None:
                size = cfg.hidden_size if sub.output_scale["per_channel"] else 1
                self.add_module(prefix + "_scale", Scale(size, sub.output_scale["init"]))
        if plan.attention.gpas or plan.mlp.gpas:
            self.gpas_gate = Scale(1, 0.0)

    def _norm(self, role: str) -> RMSNorm:
        return getattr(self, self.role_to_name[role])

    def _sublayer(self, x, p: SublayerPlan, fn, prefix: str):
        u = self._norm(prefix + "_in")(x) * p.input_norm_scale if p.input_norm else x
        f = fn(u)
        g = self._norm(prefix + "_out")(f) if p.output_norm else f
        if p.output_scale is not None:
            g = getattr(self, ("attention" if prefix == "attn" else "mlp") + "_scale")(g)
        skip = u if p.skip_from_normed_input else x
        if p.gpas == "shortcut":
            skip = skip - F.silu(self.gpas_gate.weight) * skip.detach()
        r = p.residual_scale * skip + g
        y = self._norm(prefix + "_post")(r) if p.post_norm else r
        if p.gpas == "after_residual":
            y = y - F.silu(self.gpas_gate.weight) * y.detach()
        return y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self._sublayer(x, self.plan.attention, self.self_attn, "attn")
        return self._sublayer(x, self.plan.mlp, self.mlp, "mlp")


class MixLNModel(nn.Module):
    def __init__(self, cfg: ModelConfig, plan: NormPlan, use_sdpa: bool = False):
        super().__init__()
        # padding_idx as the official model: that row gets no gradient (and is zeroed at init).
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.padding_row)
        if plan.norm_fn == "dyt":  # DyT's learnable scalar on the embedding output, from sqrt(C)
            self.embed_scale = nn.Parameter(torch.full((1,), math.sqrt(cfg.hidden_size)))
        if plan.embedding_norm:
            self.embed_norm = make_norm(cfg, plan, "attn")
        self.layers = nn.ModuleList(DecoderLayer(cfg, lp, use_sdpa, plan) for lp in plan.layers)
        self.norm = make_norm(cfg, plan, "mlp")
        self.embedding_norm = plan.embedding_norm

    def forward(self, input_ids: torch.Tensor, return_layer_inputs: bool = False):
        h = self.embed_tokens(input_ids)
        if hasattr(self, "embed_scale"):
            h = h * self.embed_scale
        if self.embedding_norm:
            h = self.embed_norm(h)
        layer_inputs = []
        for layer in self.layers:
            layer_inputs.append(h)
            h = layer(h)
        layer_inputs.append(h)                      # x_L: output of the last layer, pre final norm
        out = self.norm(h)
        return (out, layer_inputs) if return_layer_inputs else out


@dataclass
class CausalLMOutput:
    loss: Optional[torch.Tensor]
    logits: torch.Tensor


class MixLNForCausalLM(nn.Module):
    def __init__(self, cfg: ModelConfig, plan: NormPlan, use_sdpa: bool = False, init: bool = True):
        super().__init__()
        if len(plan.layers) != cfg.num_hidden_layers:
            raise ValueError("plan length must equal num_hidden_layers")
        if plan.norm_fn == "dyt" and any(lp.qk_norm != "none" for lp in plan.layers):
            raise ValueError("DyT has no QK-norm form")
        self.config, self.plan = cfg, plan
        self.model = MixLNModel(cfg, plan, use_sdpa)
        self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        if init:
            self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self, generator: Optional[torch.Generator] = None):
        std = self.config.initializer_range
        self.model.embed_tokens.weight.normal_(0.0, self.config.embedding_init_std, generator=generator)
        if self.config.padding_row is not None:
            self.model.embed_tokens.weight[self.config.padding_row].zero_()
        for layer, lp in zip(self.model.layers, self.plan.layers):
            for sub in (layer.self_attn, layer.mlp):
                for pname, lin in sub.named_children():
                    if isinstance(lin, nn.Linear):
                        lin.weight.normal_(0.0, init_std(lp, pname, lin.weight.shape, std), generator=generator)
        self.lm_head.weight.normal_(0.0, std, generator=generator)
        for m in self.modules():
            if isinstance(m, RMSNorm):
                m.weight.fill_(1.0)
            elif isinstance(m, DyT):
                m.weight.fill_(1.0)
                m.alpha.fill_(m.alpha_init)
        if hasattr(self.model, "embed_scale"):
            self.model.embed_scale.fill_(math.sqrt(self.config.hidden_size))
        for layer, lp in zip(self.model.layers, self.plan.layers):
            for prefix, sub in (("attention", lp.attention), ("mlp", lp.mlp)):
                if sub.output_scale is not None:
                    getattr(layer, prefix + "_scale").weight.fill_(sub.output_scale["init"])
            if hasattr(layer, "gpas_gate"):
                layer.gpas_gate.weight.zero_()
            for role in ("attn_in", "mlp_in"):
                if role in layer.role_to_name:
                    layer._norm(role).weight.fill_(lp.input_norm_weight)

    def forward(self, input_ids: torch.Tensor, labels: Optional[torch.Tensor] = None,
                compute_loss: bool = True) -> CausalLMOutput:
        """Without `labels`: HF shift, logits[:, :-1] predict input_ids[:, 1:].
        With `labels` (same shape as input_ids): already aligned, logits[:, t] predicts labels[:, t].
        Targets equal to -100 are ignored; loss is the mean over the rest."""
        h = self.model(input_ids)
        logits = self.lm_head(h)
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()                 # loss in fp32, as the official LLaMA code
        loss = None
        if compute_loss:
            if labels is None:
                pred, target = logits[:, :-1], input_ids[:, 1:]
            else:
                pred, target = logits, labels
            loss = F.cross_entropy(pred.reshape(-1, pred.size(-1)), target.reshape(-1),
                                   ignore_index=IGNORE_INDEX, reduction="mean")
        return CausalLMOutput(loss=loss, logits=logits)


def shifted_labels(input_ids: torch.Tensor, pad_token_id: Optional[int] = None) -> torch.Tensor:
    """Aligned labels from input_ids (labels[:, t] = input_ids[:, t+1], last = -100), pad ignored."""
    labels = torch.full_like(input_ids, IGNORE_INDEX)
    labels[:, :-1] = input_ids[:, 1:]
    if pad_token_id is not None:
        labels[:, :-1][input_ids[:, 1:] == pad_token_id] = IGNORE_INDEX
    return labels


# ----------------------------------------------------------------------------------------------
# Checkpoint interchange (config.json + model.safetensors), for fixtures
# ----------------------------------------------------------------------------------------------

# Official NORM_TYPE string for a scheme, where the official code has one (design.md §3).
# (mix-reversed:K and scaled-mix:K have none: the official pre_post fixes K = 7, and the official
# scale_post_pre scales the init of its Pre-LN layers only.)
OFFICIAL_NORM_TYPE = {"pre": "pre", "post": "post", "mix": "post_pre",
                      "sandwich": "sandwich", "deepnorm-official": "deeppost", "scaled-pre": "scale_pre",
                      "interleaved:4": "post_pre_post_pre"}
# NORM_TYPE strings that take the official POST_NUM.
_TAKES_POST_NUM = ("post_pre", "scale_post_pre")

CONFIG_KEYS = ("hidden_size", "intermediate_size", "num_attention_heads", "num_hidden_layers",
               "rms_norm_eps", "vocab_size", "max_sequence_length", "initializer_range", "pad_token_id")


def official_norm_type(scheme: str):
    """(norm_type, count argument or None) for a scheme as the official code would be launched;
    schemes the official code lacks (peri, deepnorm, lns) keep their own name."""
    name, _, arg = scheme.lower().partition(":")
    nt = OFFICIAL_NORM_TYPE.get(scheme.lower()) or OFFICIAL_NORM_TYPE.get(name, name)
    return nt, (arg or None)


def config_dict(model: MixLNForCausalLM, with_plan: bool = True) -> dict:
    """Official/HF config keys + norm_type (+ post_num); norm_plan unless with_plan=False (a config
    as the official code writes it, whose placement must come from --norm)."""
    cfg = model.config
    d = {k: getattr(cfg, k) for k in CONFIG_KEYS}
    d["model_type"] = "llama"
    d["architectures"] = ["LlamaForCausalLM"]
    name = model.plan.name.lower().partition("+qk-")[0].partition("+gpas")[0]  # QK-norm and GPAS show in the weights
    if with_plan:
        d["norm_type"] = model.plan.name
        d["norm_plan"] = model.plan.to_dict()
    elif model.plan.norm_fn == "dyt":
        d["norm_type"] = name                       # no official NORM_TYPE has DyT: our scheme name, count included
    else:
        nt, post_num = official_norm_type(name)
        d["norm_type"] = nt
        if nt in _TAKES_POST_NUM:
            d["post_num"] = _count(post_num, cfg.num_hidden_layers)
    return d


def save_checkpoint(model: MixLNForCausalLM, directory: str, with_plan: bool = True) -> None:
    from safetensors.torch import save_file  # only needed for fixtures
    os.makedirs(directory, exist_ok=True)
    tensors = {k: v.detach().to(torch.float32).contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, os.path.join(directory, "model.safetensors"))
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config_dict(model, with_plan), f, indent=2)
        f.write("\n")


def load_checkpoint(directory: str, scheme: Optional[str] = None) -> MixLNForCausalLM:
    """Plan from `scheme` if given, else the config's norm_plan, else its official norm_type/post_num."""
    from safetensors.torch import load_file
    with open(os.path.join(directory, "config.json")) as f:
        d = json.load(f)
    extra = {k: d[k] for k in ("max_sequence_length", "initializer_range", "rope_theta", "pad_token_id")
             if k in d}
    cfg = ModelConfig(**{k: d[k] for k in ("hidden_size", "intermediate_size", "num_attention_heads",
                                           "num_hidden_layers", "vocab_size")},
                      rms_norm_eps=d.get("rms_norm_eps", 1e-6), **extra)
    if "pad_token_id" not in d:
        cfg.pad_token_id = None
    L = cfg.num_hidden_layers
    if scheme is not None:
        plan = make_plan(scheme, L)
    elif "norm_plan" in d:
        plan = NormPlan.from_dict(d["norm_plan"])
    elif "norm_type" in d:
        nt = d["norm_type"]
        plan = make_plan(f"{nt}:{d['post_num']}" if "post_num" in d and nt in _TAKES_POST_NUM else nt, L)
    else:
        raise ValueError("checkpoint has no norm_plan or norm_type; pass the scheme")
    model = MixLNForCausalLM(cfg, plan, init=False)
    model.load_state_dict(load_file(os.path.join(directory, "model.safetensors")))
    return model
