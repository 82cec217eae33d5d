/// A learnable multiplier on a sublayer's output before the residual add, `r = α·x + λ ⊙ g`:
/// one scalar (ReZero, SkipInit) or one value per channel (LayerScale).
public struct OutputScale: Codable, Equatable, Sendable {
    /// λ has one value per channel (C) rather than one for the whole sublayer (1).
    public var perChannel: Bool
    /// λ's value at init.
    public var initialValue: Double

    public init(perChannel: Bool, initialValue: Double) {
        self.perChannel = perChannel
        self.initialValue = initialValue
    }

    enum CodingKeys: String, CodingKey { case perChannel = "per_channel", initialValue = "init" }
}

/// Where GPAS (gradient-preserving activation scaling) scales a sublayer's activations by
/// `1 − SiLU(a)` with a stop-gradient, `z − SiLU(a)·sg(z)`: the forward shrinks `z`, the backward
/// passes dL/dz unscaled.
public enum GPASSite: String, Codable, Sendable {
    /// The sublayer output after the residual add, `y = r − SiLU(a)·sg(r)` (Pre-LN, LNS, Sandwich…).
    case afterResidual = "after_residual"
    /// The shortcut input of a post-norm sublayer, `r = α·(x − SiLU(a)·sg(x)) + g` (Post-LN, DeepNorm).
    case shortcut
}

/// Where one sublayer (attention or MLP) normalizes, as data.
///
/// The sublayer computes, in this order:
/// `u = inputNorm ? N_in(x)·inputNormScale : x`, `f = F(u)`, `g = outputNorm ? N_out(f) : f`,
/// `g' = outputScale ? λ ⊙ g : g`, `r = residualScale·s + g'` with the skip `s = skipFromNormedInput ? u : x̃`,
/// `y = postNorm ? N_post(r) : r`, where GPAS
/// (`gpas`, with its layer's gate a) makes `x̃ = x − SiLU(a)·sg(x)` at `.shortcut` and replaces `y` by
/// `y − SiLU(a)·sg(y)` at `.afterResidual` (x̃ = x without it).
public struct SublayerNorms: Codable, Equatable, Sendable {
    /// Normalize the sublayer input: `F(N(x))` (Pre-LN, Sandwich, Peri).
    public var inputNorm: Bool
    /// Normalize the sublayer output before the residual add: `x + N(F(·))` (Sandwich, Peri).
    public var outputNorm: Bool
    /// Normalize after the residual add: `N(x + F(·))` (Post-LN, DeepNorm).
    public var postNorm: Bool
    /// Multiplier on the skip path: `α·x + F(·)` (DeepNorm's α; 1 otherwise).
    public var residualScale: Double
    /// Multiplier on the input norm's output (LayerNorm Scaling: 1/√ℓ; 1 otherwise).
    public var inputNormScale: Double
    /// A learnable λ on the output before the residual add (ReZero, SkipInit, LayerScale); nil: none.
    public var outputScale: OutputScale?
    /// Where the layer's GPAS gate scales this sublayer; nil: no GPAS.
    public var gpas: GPASSite?
    /// The skip path carries the input norm's output, `r = N(x) + F(N(x))` (HybridNorm's FFN), not `x`.
    public var skipFromNormedInput: Bool

    public init(inputNorm: Bool = false, outputNorm: Bool = false, postNorm: Bool = false,
                residualScale: Double = 1, inputNormScale: Double = 1, outputScale: OutputScale? = nil, gpas: GPASSite? = nil,
                skipFromNormedInput: Bool = false) {
        self.inputNorm = inputNorm
        self.outputNorm = outputNorm
        self.postNorm = postNorm
        self.residualScale = residualScale
        self.inputNormScale = inputNormScale
        self.outputScale = outputScale
        self.gpas = gpas
        self.skipFromNormedInput = skipFromNormedInput
    }

    public static let pre = SublayerNorms(inputNorm: true)
    public static let post = SublayerNorms(postNorm: true)
    public static let sandwich = SublayerNorms(inputNorm: true, outputNorm: true)

    enum CodingKeys: String, CodingKey {
        case inputNorm = "input_norm", outputNorm = "output_norm", postNorm = "post_norm"
        case residualScale = "residual_scale", inputNormScale = "input_norm_scale", outputScale = "output_scale", gpas
        case skipFromNormedInput = "skip_from_normed_input"
    }

    /// Plans saved before `skip_from_normed_input` existed have none.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        inputNorm = try c.decode(Bool.self, forKey: .inputNorm)
        outputNorm = try c.decode(Bool.self, forKey: .outputNorm)
        postNorm = try c.decode(Bool.self, forKey: .postNorm)
        residualScale = try c.decode(Double.self, forKey: .residualScale)
        inputNormScale = try c.decode(Double.self, forKey: .inputNormScale)
        outputScale = try c.decodeIfPresent(OutputScale.self, forKey: .outputScale)
        gpas = try c.decodeIfPresent(GPASSite.self, forKey: .gpas)
        skipFromNormedInput = try c.decodeIfPresent(Bool.self, forKey: .skipFromNormedInput) ?? false
    }

    /// Only when set, so plans without it read exactly as before.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(inputNorm, forKey: .inputNorm)
        try c.encode(outputNorm, forKey: .outputNorm)
        try c.encode(postNorm, forKey: .postNorm)
        try c.encode(residualScale, forKey: .residualScale)
        try c.encode(inputNormScale, forKey: .inputNormScale)
        try c.encodeIfPresent(outputScale, forKey: .outputScale)
        try c.encodeIfPresent(gpas, forKey: .gpas)
        if skipFromNormedInput { try c.encode(true, forKey: .skipFromNormedInput) }
    }
}

/// How one layer's projection weights are drawn at init.
public enum InitDistribution: String, Codable, Sendable {
    /// N(0, `initializer_range` · gain): the official init (gain 1), scaled init, our DeepNorm's β.
    case normal
    /// Xavier (Glorot) normal, as `torch.nn.init.xavier_normal_`: N(0, gain · √(2 / (fan_in + fan_out)));
    /// the official `deeppost`.
    case xavierNormal = "xavier_normal"
}

/// The init rule of one layer's projections: a distribution and a gain per projection.
///
/// With `normal` the gain multiplies `initializer_range`: scaled init sets `outputProjection` and
/// `downProjection` to 1/√(2L); DeepNorm sets the value, output and MLP projections to β. With
/// `xavierNormal` it is Xavier's gain (the official `deeppost`: (8L)^¼, and 1 on q/k).
public struct LayerInit: Codable, Equatable, Sendable {
    public var distribution: InitDistribution
    public var queryKey: Double
    public var value: Double
    public var outputProjection: Double
    public var gateUp: Double
    public var downProjection: Double
    /// Init value of the input norms' weights (1; the learnable LayerNorm Scaling: 1/√ℓ).
    public var inputNormWeight: Double

    public init(distribution: InitDistribution = .normal, queryKey: Double = 1, value: Double = 1,
                outputProjection: Double = 1, gateUp: Double = 1, downProjection: Double = 1, inputNormWeight: Double = 1) {
        self.distribution = distribution
        self.queryKey = queryKey
        self.value = value
        self.outputProjection = outputProjection
        self.gateUp = gateUp
        self.downProjection = downProjection
        self.inputNormWeight = inputNormWeight
    }

    /// The gain of a decoder-layer projection (`role` must be one: q, k, v, o, gate, up, down).
    public func gain(_ role: ParameterRole) -> Double {
        switch role {
        case .query, .key: return queryKey
        case .value: return value
        case .attentionOutput: return outputProjection
        case .gate, .up: return gateUp
        case .down: return downProjection
        case .embedding, .embeddingScale, .embeddingNorm, .layerNorm, .outputScale, .finalNorm, .lmHead:
            preconditionFailure("\(role) is not a decoder-layer projection; the layer init rule does not cover it")
        }
    }

    /// Init std of the projection `role`, a weight of shape (fan_out, fan_in) as `nn.Linear` stores it.
    public func std(_ role: ParameterRole, fanOut: Int, fanIn: Int, initializerRange: Double) -> Double {
        switch distribution {
        case .normal: return initializerRange * gain(role)
        case .xavierNormal: return gain(role) * (2 / Double(fanIn + fanOut)).squareRoot()
        }
    }

    enum CodingKeys: String, CodingKey {
        case distribution
        case queryKey = "qk_gain", value = "v_gain", outputProjection = "o_gain"
        case gateUp = "gate_up_gain", downProjection = "down_gain", inputNormWeight = "input_norm_weight"
    }

    /// Plans saved before `distribution` (or `input_norm_weight`) existed have none: they were all `normal` (and 1).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        distribution = try c.decodeIfPresent(InitDistribution.self, forKey: .distribution) ?? .normal
        queryKey = try c.decode(Double.self, forKey: .queryKey)
        value = try c.decode(Double.self, forKey: .value)
        outputProjection = try c.decode(Double.self, forKey: .outputProjection)
        gateUp = try c.decode(Double.self, forKey: .gateUp)
        downProjection = try c.decode(Double.self, forKey: .downProjection)
        inputNormWeight = try c.decodeIfPresent(Double.self, forKey: .inputNormWeight) ?? 1
    }
}

/// RMSNorm on the attention's queries and keys after their projection and before RoPE (QK-norm),
/// combinable with every placement.
public enum QKNorm: String, Codable, CaseIterable, Sendable {
    /// No norm on q and k (LLaMA, the paper).
    case none
    /// Each head's D channels normalized alone, one (D) weight for q and one for k shared by the
    /// heads: Qwen3, Gemma 3.
    case head
    /// q normalized over its C channels and k over its K = kvHeads·D channels, with (C) and (K)
    /// weights: OLMo 2.
    case full
}

/// One decoder layer's placement: its two sublayers, its QK-norm and its init rule.
public struct LayerNorms: Codable, Equatable, Sendable {
    public var attention: SublayerNorms
    public var mlp: SublayerNorms
    /// RMSNorm on q and k before RoPE (`none` by default).
    public var qkNorm: QKNorm
    /// Normalize v too, as q and k (`qkNorm` says how): HybridNorm's QKV-norm.
    public var valueNorm: Bool
    public var initialization: LayerInit

    public init(attention: SublayerNorms, mlp: SublayerNorms, qkNorm: QKNorm = .none, valueNorm: Bool = false,
                initialization: LayerInit = LayerInit()) {
        self.attention = attention
        self.mlp = mlp
        self.qkNorm = qkNorm
        self.valueNorm = valueNorm
        self.initialization = initialization
    }

    /// Both sublayers with the same placement.
    public init(both: SublayerNorms, initialization: LayerInit = LayerInit()) {
        self.init(attention: both, mlp: both, initialization: initialization)
    }

    enum CodingKeys: String, CodingKey { case attention, mlp, qkNorm = "qk_norm", valueNorm = "value_norm", initialization = "init" }

    /// Plans saved before `qk_norm` (or `value_norm`) existed have none.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        attention = try c.decode(SublayerNorms.self, forKey: .attention)
        mlp = try c.decode(SublayerNorms.self, forKey: .mlp)
        qkNorm = try c.decodeIfPresent(QKNorm.self, forKey: .qkNorm) ?? .none
        valueNorm = try c.decodeIfPresent(Bool.self, forKey: .valueNorm) ?? false
        initialization = try c.decode(LayerInit.self, forKey: .initialization)
    }
}

/// Dynamic Tanh's α₀: the value each site's learnable α starts from, one for the attention side and
/// one for the MLP side, as the paper's LLaMA recipe separates them (Zhu et al. 2025, Table 12:
/// 0.8 and 0.2 at 7B; narrower models take larger values).
///
/// Which sites take which: every norm of an attention sublayer (input, output, post) and the
/// embedding norm (Peri-LN; it feeds the first attention) start from `attention` (A); every norm of
/// an MLP sublayer and the final norm start from `mlp` (B).
public struct DynamicTanhInit: Codable, Equatable, Sendable, CustomStringConvertible {
    /// A: α₀ of the attention sublayers' sites and the embedding norm.
    public var attention: Double
    /// B: α₀ of the MLP sublayers' sites and the final norm.
    public var mlp: Double

    public init(attention: Double = Self.defaultAlpha, mlp: Double = Self.defaultAlpha) {
        self.attention = attention
        self.mlp = mlp
    }

    /// The paper's default α₀ for both sides (its non-LLaMA models all use 0.5).
    public static let defaultAlpha = 0.5

    /// `A,B`, as `--dyt-alpha` takes them.
    public var description: String { "\(attention),\(mlp)" }

    /// `--dyt-alpha`'s value: `A,B`, or one value for both sides; each finite and above 0.
    public static func parse(_ text: String) throws -> DynamicTanhInit {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count <= 2 else {
            throw ModelError.invalidNormScheme("DyT's α₀ is one value or two (A,B: attention sites, MLP sites), got \(parts.count) in '\(text)'")
        }
        let values = try parts.map { part -> Double in
            guard let value = Double(part) else { throw ModelError.invalidNormScheme("DyT's α₀ must be a number, got '\(part)' in '\(text)'") }
            guard value.isFinite, value > 0 else {
                throw ModelError.invalidNormScheme("DyT's α₀ must be above 0 (at 0 the site outputs 0), got \(part)")
            }
            return value
        }
        return DynamicTanhInit(attention: values[0], mlp: values.last!)
    }

    enum CodingKeys: String, CodingKey { case attention = "alpha_attention", mlp = "alpha_mlp" }

    /// A value left out is the default α₀.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        attention = try c.decodeIfPresent(Double.self, forKey: .attention) ?? Self.defaultAlpha
        mlp = try c.decodeIfPresent(Double.self, forKey: .mlp) ?? Self.defaultAlpha
    }
}

/// What every norm site of a model computes: one choice for the whole model, read by the forward
/// and backward at each site (sublayer input, output and post norms, the embedding norm, the final norm).
public enum NormFunction: Equatable, Sendable {
    /// RMSNorm, `w ⊙ x / √(mean(x²) + ε)`: LLaMA, the paper, the official code.
    case rms
    /// Dynamic Tanh (Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025):
    /// `γ ⊙ tanh(α·x)` with a learnable scalar α per site (from α₀) and the per-channel γ in the
    /// norm's weight; the model also scales its embedding output by a learnable scalar from √C.
    /// QK-norm sites are not covered (`NormPlan.validate` refuses the combination).
    case dyt(DynamicTanhInit)

    /// The names `--norm-fn` takes.
    public static let names = ["rms", "dyt"]

    /// The function `--norm-fn` names (`rms`, `dyt`; DyT from the default α₀), nil for another name.
    public static func named(_ name: String) -> NormFunction? {
        switch name {
        case "rms": return .rms
        case "dyt": return .dyt(DynamicTanhInit())
        default: return nil
        }
    }

    /// `rms` or `dyt`, as `--norm-fn` names it.
    public var name: String {
        switch self {
        case .rms: return "rms"
        case .dyt: return "dyt"
        }
    }
}

extension NormFunction: Codable {
    enum CodingKeys: String, CodingKey { case name }

    /// `{"name": "rms"}` or `{"name": "dyt", "alpha_attention": A, "alpha_mlp": B}`.
    public init(from decoder: Decoder) throws {
        let name = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .name)
        switch Self.named(name) {
        case .rms?: self = .rms
        case .dyt?: self = .dyt(try DynamicTanhInit(from: decoder))
        case nil:
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath + [CodingKeys.name],
                                                    debugDescription: "unknown norm function '\(name)'; known: \(Self.names.joined(separator: ", "))"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .rms:
            try c.encode("rms", forKey: .name)
        case .dyt(let initial):
            try c.encode("dyt", forKey: .name)
            try initial.encode(to: encoder)
        }
    }
}

/// The normalization placement of a whole model: one entry per decoder layer.
///
/// Saved in every config and checkpoint, so a model is always rebuilt with its own placement.
/// The final norm before the LM head is always applied (as in the official code).
public struct NormPlan: Codable, Equatable, Sendable {
    public var layers: [LayerNorms]
    /// Normalize the embedding output before the first layer (Peri-LN).
    public var embeddingNorm: Bool
    /// The scheme this plan was made from (`mix:3`, …), for display; the layers are what count.
    public var scheme: String
    /// What every norm site computes (RMSNorm unless the plan says DyT).
    public var normFunction: NormFunction

    public init(layers: [LayerNorms], embeddingNorm: Bool = false, scheme: String = "custom", normFunction: NormFunction = .rms) {
        self.layers = layers
        self.embeddingNorm = embeddingNorm
        self.scheme = scheme
        self.normFunction = normFunction
    }

    enum CodingKeys: String, CodingKey { case layers, embeddingNorm = "embedding_norm", scheme, normFunction = "norm_fn" }

    /// Plans saved before `norm_fn` existed have none: they are RMSNorm.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        layers = try c.decode([LayerNorms].self, forKey: .layers)
        embeddingNorm = try c.decode(Bool.self, forKey: .embeddingNorm)
        scheme = try c.decode(String.self, forKey: .scheme)
        normFunction = try c.decodeIfPresent(NormFunction.self, forKey: .normFunction) ?? .rms
    }

    /// `norm_fn` only when it is not RMSNorm, so an RMSNorm plan reads exactly as before it existed.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layers, forKey: .layers)
        try c.encode(embeddingNorm, forKey: .embeddingNorm)
        try c.encode(scheme, forKey: .scheme)
        if normFunction != .rms { try c.encode(normFunction, forKey: .normFunction) }
    }

    /// Whether `other` builds the same model: the same layers, embedding norm and norm function (the
    /// scheme name, which is for display, may differ).
    public func buildsSameModel(as other: NormPlan) -> Bool {
        layers == other.layers && embeddingNorm == other.embeddingNorm && normFunction == other.normFunction
    }

    /// The prefix of a scheme name whose norm function is DyT (`dyt-pre`, `dyt-mix:0.25`).
    public static let dynamicTanhPrefix = "dyt-"

    /// This plan with `function` at every norm site; the scheme name says DyT with its `dyt-` prefix.
    public func withNormFunction(_ function: NormFunction) -> NormPlan {
        var plan = self
        plan.normFunction = function
        let base = scheme.hasPrefix(Self.dynamicTanhPrefix) ? String(scheme.dropFirst(Self.dynamicTanhPrefix.count)) : scheme
        switch function {
        case .rms: plan.scheme = base
        case .dyt: plan.scheme = Self.dynamicTanhPrefix + base
        }
        return plan
    }

    /// This plan with GPAS in every layer (Chen et al. 2025): one gate per layer, shared by its two
    /// sublayers, applied to the shortcut input of a post-norm sublayer and after the residual add of
    /// any other; the scheme name says so (`mix:3+gpas`).
    public func withGPAS() -> NormPlan {
        var plan = self
        for l in plan.layers.indices {
            for part in [\LayerNorms.attention, \LayerNorms.mlp] {
                plan.layers[l][keyPath: part].gpas = plan.layers[l][keyPath: part].postNorm ? .shortcut : .afterResidual
            }
        }
        if !scheme.contains("+gpas") { plan.scheme = scheme + "+gpas" }
        return plan
    }

    /// This plan with `mode` as every layer's QK-norm; the scheme name says so (`pre+qk-head`).
    public func withQKNorm(_ mode: QKNorm) -> NormPlan {
        if layers.allSatisfy({ $0.qkNorm == mode }) { return self }  // a scheme with its own QK-norm (hybrid) keeps its name
        var plan = self
        for l in plan.layers.indices { plan.layers[l].qkNorm = mode }
        let base = scheme.components(separatedBy: "+qk-")[0]
        plan.scheme = mode == .none ? base : "\(base)+qk-\(mode.rawValue)"
        return plan
    }

    /// Checks the plan fits a model of `layerCount` layers and every layer normalizes somewhere
    /// finite (a plan with no norm at all trains, but non-finite scales never do).
    public func validate(layerCount: Int) throws {
        guard layers.count == layerCount else {
            throw ModelError.invalidNormScheme(
                "the norm plan has \(layers.count) layers but the model has \(layerCount)")
        }
        if case .dyt(let initial) = normFunction {
            for (side, alpha) in [("attention", initial.attention), ("MLP", initial.mlp)] where !(alpha.isFinite && alpha > 0) {
                throw ModelError.invalidNormScheme("DyT's α₀ for the \(side) sites is \(alpha); it must be a finite number above 0")
            }
            if let l = layers.firstIndex(where: { $0.qkNorm != .none }) {
                throw ModelError.invalidNormScheme("layer \(l) of the norm plan has a QK-norm (--qk-norm, or hybrid's q/k/v norm), "
                    + "which DyT (--norm-fn dyt) does not replace; use RMSNorm (--norm-fn rms) with a QK-norm, or DyT without one")
            }
        }
        for (i, layer) in layers.enumerated() {
            for s in [layer.attention, layer.mlp]
            where !(s.residualScale.isFinite && s.inputNormScale.isFinite && (s.outputScale?.initialValue.isFinite ?? true)) {
                throw ModelError.invalidNormScheme("layer \(i) of the norm plan has a non-finite scale")
            }
            for s in [layer.attention, layer.mlp] where s.gpas == .afterResidual && s.postNorm {
                throw ModelError.invalidNormScheme("layer \(i) of the norm plan puts GPAS after the residual add of a post-norm sublayer; "
                    + "there it scales the shortcut input (gpas: shortcut)")
            }
            for s in [layer.attention, layer.mlp] where s.skipFromNormedInput && !s.inputNorm {
                throw ModelError.invalidNormScheme("layer \(i) of the norm plan takes its skip path from an input norm it does not have")
            }
            if layer.valueNorm, layer.qkNorm == .none {
                throw ModelError.invalidNormScheme("layer \(i) of the norm plan normalizes v without a QK-norm mode to do it in")
            }
            guard layer.initialization.inputNormWeight.isFinite else {
                throw ModelError.invalidNormScheme("layer \(i) of the norm plan has a non-finite input norm weight")
            }
            let rule = layer.initialization
            for gain in [rule.queryKey, rule.value, rule.outputProjection, rule.gateUp, rule.downProjection]
            where !(gain.isFinite && gain >= 0) {
                throw ModelError.invalidNormScheme("layer \(i) of the norm plan has the init gain \(gain); gains must be finite and ≥ 0")
            }
        }
    }
}
