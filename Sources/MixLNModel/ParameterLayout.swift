/// What a parameter tensor is, for init and for grouping gradient norms.
///
/// A DyT site's α has the role of its norm (`embeddingNorm`, `layerNorm`, `finalNorm`), so it is
/// grouped with that norm's weight; its init (α₀, not 1) is set per site.
public enum ParameterRole: String, Codable, Sendable {
    case embedding, embeddingNorm, query, key, value, attentionOutput, gate, up, down, layerNorm, outputScale, finalNorm, lmHead
    /// DyT's learnable scalar on the embedding output (√C at init).
    case embeddingScale

    /// Part of a decoder layer's attention sublayer.
    public var isAttention: Bool { [.query, .key, .value, .attentionOutput].contains(self) }
    /// Part of a decoder layer's MLP.
    public var isMLP: Bool { [.gate, .up, .down].contains(self) }
}

/// One named tensor inside the flat parameter buffer.
public struct ParameterTensor: Equatable, Sendable {
    /// The official PyTorch name (`model.layers.3.self_attn.q_proj.weight`).
    public let name: String
    public let offset: Int
    public let shape: [Int]
    /// Decoder layer index (0-based), nil for embedding, final norm and head.
    public let layer: Int?
    public let role: ParameterRole
    public var count: Int { shape.reduce(1, *) }
}

/// Where one norm site's parameters are, which says what it computes (the plan's `NormFunction`).
public enum NormSite: Equatable, Sendable {
    /// RMSNorm: its weight w, (C).
    case rms(weight: Int)
    /// Dynamic Tanh: its weight γ, (C), and its scalar α, (1), stored right after it as `<norm>.alpha`.
    case dyt(weight: Int, alpha: Int)

    /// The per-channel weight (RMSNorm's w, DyT's γ), (C).
    public var weight: Int {
        switch self {
        case .rms(let weight), .dyt(let weight, _): return weight
        }
    }

    /// DyT's α, (1); nil for RMSNorm.
    public var alpha: Int? {
        switch self {
        case .rms: return nil
        case .dyt(_, let alpha): return alpha
        }
    }
}

/// Offsets of one decoder layer's tensors in the flat buffer.
///
/// q, k, v are adjacent rows of one (3C, C) block and gate, up of one (2I, C) block, so each is
/// one matmul; they are still listed as separate official tensors.
public struct LayerOffsets: Sendable {
    public var qkv = 0              // (C + 2K, C): q rows, then k, then v (K = key/value heads × D)
    public var attentionOutput = 0  // (C, C)
    public var gateUp = 0           // (2I, C)
    public var down = 0             // (C, I)
    public var attentionInputNorm: NormSite?   // (C) weight, and (1) α under DyT
    public var attentionOutputNorm: NormSite?  // (C) (+ (1))
    public var attentionPostNorm: NormSite?    // (C) (+ (1))
    public var mlpInputNorm: NormSite?         // (C) (+ (1))
    public var mlpOutputNorm: NormSite?        // (C) (+ (1))
    public var mlpPostNorm: NormSite?          // (C) (+ (1))
    public var attentionOutputScale: Int? // (C) or (1): λ on the attention output (LayerScale; ReZero, SkipInit)
    public var mlpOutputScale: Int?       // (C) or (1): λ on the MLP output
    public var gpasGate: Int?             // (1): GPAS's gate a, shared by both sublayers
    public var queryNorm: Int?            // (D) per head or (C) full: QK-norm's weight for q
    public var keyNorm: Int?              // (D) per head or (K) full: QK-norm's weight for k
    public var valueNorm: Int?            // (D) per head or (K) full: the value norm's weight (HybridNorm)
}

/// Where every parameter lives in the one flat allocation, named as the official model names them.
///
/// Norm weights exist only where the plan places a norm. Names follow design.md §5: the attention
/// input norm is `input_layernorm`; the attention output or post norm `post_attention_layernorm`;
/// the MLP input norm `post_attention_layernorm` when that name is free (Pre-LN) and
/// `pre_feedforward_layernorm` otherwise (Sandwich); the MLP output or post norm
/// `post_feedforward_layernorm`. Under DyT each norm site also has `<norm>.alpha` (1) right after
/// its weight, and the embedding output its scale `model.embed_scale` (1).
public struct ParameterLayout: Sendable {
    public private(set) var tensors: [ParameterTensor] = []
    public private(set) var layers: [LayerOffsets] = []
    public private(set) var embedding = 0              // (V, C)
    public private(set) var embeddingScale: Int?       // (1) DyT's scalar on the embedding output
    public private(set) var embeddingNorm: NormSite?   // (C) (+ (1))
    public private(set) var finalNorm = NormSite.rms(weight: 0)  // (C) (+ (1))
    public private(set) var lmHead = 0                 // (V, C)
    public private(set) var count = 0

    public init(config: ModelConfig, plan: NormPlan) {
        let C = config.hiddenSize, I = config.intermediateSize, V = config.vocabSize, K = config.keyValueSize
        /// A norm site named `name` (`….weight`, and `….alpha` under DyT).
        func site(_ name: String, _ layer: Int?, _ role: ParameterRole) -> NormSite {
            let weight = add(name + ".weight", [C], layer, role)
            switch plan.normFunction {
            case .rms: return .rms(weight: weight)
            case .dyt: return .dyt(weight: weight, alpha: add(name + ".alpha", [1], layer, role))
            }
        }
        embedding = add("model.embed_tokens.weight", [V, C], nil, .embedding)
        if case .dyt = plan.normFunction { embeddingScale = add("model.embed_scale", [1], nil, .embeddingScale) }
        if plan.embeddingNorm { embeddingNorm = site("model.embed_norm", nil, .embeddingNorm) }
        for (l, norms) in plan.layers.enumerated() {
            let prefix = "model.layers.\(l)."
            var names = Set<String>()
            func norm(_ wanted: String, _ fallback: String) -> NormSite {
                let name = names.contains(wanted) ? fallback : wanted
                names.insert(name)
                return site(prefix + name, l, .layerNorm)
            }
            var o = LayerOffsets()
            if norms.attention.inputNorm { o.attentionInputNorm = norm("input_layernorm", "attention_input_layernorm") }
            if norms.attention.outputNorm { o.attentionOutputNorm = norm("post_attention_layernorm", "attention_output_layernorm") }
            if norms.attention.postNorm { o.attentionPostNorm = norm("post_attention_layernorm", "attention_residual_layernorm") }
            if norms.mlp.inputNorm { o.mlpInputNorm = norm("post_attention_layernorm", "pre_feedforward_layernorm") }
            if norms.mlp.outputNorm { o.mlpOutputNorm = norm("post_feedforward_layernorm", "feedforward_output_layernorm") }
            if norms.mlp.postNorm { o.mlpPostNorm = norm("post_feedforward_layernorm", "feedforward_residual_layernorm") }
            o.qkv = add(prefix + "self_attn.q_proj.weight", [C, C], l, .query)
            _ = add(prefix + "self_attn.k_proj.weight", [K, C], l, .key)
            _ = add(prefix + "self_attn.v_proj.weight", [K, C], l, .value)
            o.attentionOutput = add(prefix + "self_attn.o_proj.weight", [C, C], l, .attentionOutput)
            o.gateUp = add(prefix + "mlp.gate_proj.weight", [I, C], l, .gate)
            _ = add(prefix + "mlp.up_proj.weight", [I, C], l, .up)
            o.down = add(prefix + "mlp.down_proj.weight", [C, I], l, .down)
            if let scale = norms.attention.outputScale {
                o.attentionOutputScale = add(prefix + "attention_scale.weight", [scale.perChannel ? C : 1], l, .outputScale)
            }
            if let scale = norms.mlp.outputScale {
                o.mlpOutputScale = add(prefix + "mlp_scale.weight", [scale.perChannel ? C : 1], l, .outputScale)
            }
            if norms.attention.gpas != nil || norms.mlp.gpas != nil {
                o.gpasGate = add(prefix + "gpas_gate.weight", [1], l, .outputScale)
            }
            // QK-norm weights as Qwen3 / OLMo 2 name them; (D) each per head, (C) and (K) over the full projections.
            let (queryWidth, keyWidth) = norms.qkNorm == .head ? (config.headDim, config.headDim) : (C, K)
            if norms.qkNorm != .none {
                o.queryNorm = add(prefix + "self_attn.q_norm.weight", [queryWidth], l, .layerNorm)
                o.keyNorm = add(prefix + "self_attn.k_norm.weight", [keyWidth], l, .layerNorm)
                if norms.valueNorm { o.valueNorm = add(prefix + "self_attn.v_norm.weight", [keyWidth], l, .layerNorm) }
            }
            layers.append(o)
        }
        finalNorm = site("model.norm", nil, .finalNorm)
        // A tied head is the embedding matrix itself: no tensor of its own, and its gradient adds to the embedding's.
        lmHead = config.tieWordEmbeddings ? embedding : add("lm_head.weight", [V, C], nil, .lmHead)
    }

    private mutating func add(_ name: String, _ shape: [Int], _ layer: Int?, _ role: ParameterRole) -> Int {
        let tensor = ParameterTensor(name: name, offset: count, shape: shape, layer: layer, role: role)
        tensors.append(tensor)
        count += tensor.count
        return tensor.offset
    }

    /// The tensor with an official name, if the model has it.
    public func tensor(named name: String) -> ParameterTensor? { tensors.first { $0.name == name } }
}
