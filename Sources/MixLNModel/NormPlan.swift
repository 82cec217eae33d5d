/// Where one sublayer (attention or MLP) normalizes, as data.
///
/// The sublayer computes, in this order:
/// `u = inputNorm ? N_in(x)·inputNormScale : x`, `f = F(u)`, `g = outputNorm ? N_out(f) : f`,
/// `r = residualScale·x + g`, `y = postNorm ? N_post(r) : r`.
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

    public init(inputNorm: Bool = false, outputNorm: Bool = false, postNorm: Bool = false,
                residualScale: Double = 1, inputNormScale: Double = 1) {
        self.inputNorm = inputNorm
        self.outputNorm = outputNorm
        self.postNorm = postNorm
        self.residualScale = residualScale
        self.inputNormScale = inputNormScale
    }

    public static let pre = SublayerNorms(inputNorm: true)
    public static let post = SublayerNorms(postNorm: true)
    public static let sandwich = SublayerNorms(inputNorm: true, outputNorm: true)

    enum CodingKeys: String, CodingKey {
        case inputNorm = "input_norm", outputNorm = "output_norm", postNorm = "post_norm"
        case residualScale = "residual_scale", inputNormScale = "input_norm_scale"
    }
}

/// Multipliers on the init std (`initializer_range`) of one layer's projections.
///
/// Scaled init sets `outputProjection`/`downProjection` to 1/√(2L); DeepNorm sets the value,
/// output and MLP projections to β.
public struct LayerInit: Codable, Equatable, Sendable {
    public var queryKey: Double = 1
    public var value: Double = 1
    public var outputProjection: Double = 1
    public var gateUp: Double = 1
    public var downProjection: Double = 1

    public init(queryKey: Double = 1, value: Double = 1, outputProjection: Double = 1,
                gateUp: Double = 1, downProjection: Double = 1) {
        self.queryKey = queryKey
        self.value = value
        self.outputProjection = outputProjection
        self.gateUp = gateUp
        self.downProjection = downProjection
    }

    enum CodingKeys: String, CodingKey {
        case queryKey = "qk_gain", value = "v_gain", outputProjection = "o_gain"
        case gateUp = "gate_up_gain", downProjection = "down_gain"
    }
}

/// One decoder layer's placement: its two sublayers and its init rule.
public struct LayerNorms: Codable, Equatable, Sendable {
    public var attention: SublayerNorms
    public var mlp: SublayerNorms
    public var initialization: LayerInit

    public init(attention: SublayerNorms, mlp: SublayerNorms, initialization: LayerInit = LayerInit()) {
        self.attention = attention
        self.mlp = mlp
        self.initialization = initialization
    }

    /// Both sublayers with the same placement.
    public init(both: SublayerNorms, initialization: LayerInit = LayerInit()) {
        self.init(attention: both, mlp: both, initialization: initialization)
    }

    enum CodingKeys: String, CodingKey { case attention, mlp, initialization = "init" }
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

    public init(layers: [LayerNorms], embeddingNorm: Bool = false, scheme: String = "custom") {
        self.layers = layers
        self.embeddingNorm = embeddingNorm
        self.scheme = scheme
    }

    enum CodingKeys: String, CodingKey { case layers, embeddingNorm = "embedding_norm", scheme }

    /// Checks the plan fits a model of `layerCount` layers and every layer normalizes somewhere
    /// finite (a plan with no norm at all trains, but non-finite scales never do).
    public func validate(layerCount: Int) throws {
        guard layers.count == layerCount else {
            throw ModelError.invalidNormScheme(
                "the norm plan has \(layers.count) layers but the model has \(layerCount)")
        }
        for (i, layer) in layers.enumerated() {
            for s in [layer.attention, layer.mlp] where !(s.residualScale.isFinite && s.inputNormScale.isFinite) {
                throw ModelError.invalidNormScheme("layer \(i) of the norm plan has a non-finite scale")
            }
        }
    }
}
