import Foundation

/// Shape and numerics of a LLaMA decoder, read from and written to the official `config.json` keys.
///
/// Required keys are the official ones; a missing one or a misspelt key is an error that names it,
/// never a silent default. Keys that Hugging Face writes but that do not change this model
/// (`architectures`, `model_type`, …) are accepted and ignored.
public struct ModelConfig: Codable, Equatable, Sendable {
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numAttentionHeads: Int
    public var numHiddenLayers: Int
    public var vocabSize: Int
    public var maxSequenceLength: Int
    public var rmsNormEps: Double
    /// Std of every linear weight at init (official 0.02).
    public var initializerRange: Double
    /// RoPE base (official 10000; LLaMA 3 uses 500000).
    public var ropeTheta: Double
    /// Rescaling of RoPE's frequencies (`rope_scaling`; nil: none, as the official models).
    public var ropeScaling: RopeScaling?
    /// `pad_token_id` as the official config gives it; −1 makes the embedding's last row a padding row
    /// (zero at init, never updated), as PyTorch's `padding_idx = -1` does in the official model.
    public var padTokenId: Int?
    /// Key/value heads (grouped-query attention when fewer than the query heads; Hugging Face `num_key_value_heads`).
    public var numKeyValueHeads: Int
    /// The LM head reuses the token embedding (Hugging Face `tie_word_embeddings`; the official models do not).
    public var tieWordEmbeddings: Bool

    public init(hiddenSize: Int, intermediateSize: Int, numAttentionHeads: Int, numHiddenLayers: Int,
                vocabSize: Int, maxSequenceLength: Int = 1024, rmsNormEps: Double = 1e-6,
                initializerRange: Double = 0.02, ropeTheta: Double = 10000, padTokenId: Int? = -1,
                numKeyValueHeads: Int? = nil, tieWordEmbeddings: Bool = false, ropeScaling: RopeScaling? = nil) {
        self.hiddenSize = hiddenSize
        self.intermediateSize = intermediateSize
        self.numAttentionHeads = numAttentionHeads
        self.numHiddenLayers = numHiddenLayers
        self.vocabSize = vocabSize
        self.maxSequenceLength = maxSequenceLength
        self.rmsNormEps = rmsNormEps
        self.initializerRange = initializerRange
        self.ropeTheta = ropeTheta
        self.padTokenId = padTokenId
        self.numKeyValueHeads = numKeyValueHeads ?? numAttentionHeads
        self.tieWordEmbeddings = tieWordEmbeddings
        self.ropeScaling = ropeScaling
    }

    /// Width of the key (and value) projection: `num_key_value_heads × head size`.
    public var keyValueSize: Int { numKeyValueHeads * headDim }

    /// Size of one attention head: `hidden_size / num_attention_heads`.
    public var headDim: Int { hiddenSize / numAttentionHeads }

    /// RoPE's inverse frequency of each of the D/2 rotation pairs: `rope_theta^(−2i/D)`, then `rope_scaling`.
    public var ropeInverseFrequencies: [Double] {
        let unscaled = RopeScaling.unscaledInverseFrequencies(headDim: headDim, theta: ropeTheta)
        return ropeScaling?.apply(to: unscaled) ?? unscaled
    }

    /// Std of the token embedding at init: √(2/5) ≈ 0.632, as the official code (not scaled by width).
    public static let embeddingInitStd = (2.0 / 5.0).squareRoot()

    /// The embedding row that acts as PyTorch's `padding_idx`, if any.
    public var embeddingPaddingRow: Int? {
        guard let pad = padTokenId else { return nil }
        let row = pad < 0 ? vocabSize + pad : pad
        return (0..<vocabSize).contains(row) ? row : nil
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numAttentionHeads = "num_attention_heads"
        case numHiddenLayers = "num_hidden_layers"
        case vocabSize = "vocab_size"
        case maxSequenceLength = "max_sequence_length"
        case rmsNormEps = "rms_norm_eps"
        case initializerRange = "initializer_range"
        case ropeTheta = "rope_theta", ropeScaling = "rope_scaling"
        case padTokenId = "pad_token_id"
        case numKeyValueHeads = "num_key_value_heads", tieWordEmbeddings = "tie_word_embeddings"
    }

    /// Keys written by the official code or Hugging Face that carry nothing this model needs.
    static let ignoredKeys: Set<String> = [
        "architectures", "model_type", "transformers_version", "use_cache", "torch_dtype",
        "bos_token_id", "eos_token_id", "hidden_act", "_name_or_path", "attention_dropout",
        "pretraining_tp", "attention_bias", "mlp_bias",
        "norm_type", "post_num", "norm_plan", "max_position_embeddings",
        "head_dim",
    ]

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hiddenSize = try c.decode(Int.self, forKey: .hiddenSize)
        intermediateSize = try c.decode(Int.self, forKey: .intermediateSize)
        numAttentionHeads = try c.decode(Int.self, forKey: .numAttentionHeads)
        numHiddenLayers = try c.decode(Int.self, forKey: .numHiddenLayers)
        vocabSize = try c.decode(Int.self, forKey: .vocabSize)
        rmsNormEps = try c.decode(Double.self, forKey: .rmsNormEps)
        maxSequenceLength = try c.decodeIfPresent(Int.self, forKey: .maxSequenceLength) ?? 1024
        initializerRange = try c.decodeIfPresent(Double.self, forKey: .initializerRange) ?? 0.02
        ropeTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta) ?? 10000
        padTokenId = try c.decodeIfPresent(Int.self, forKey: .padTokenId)
        numKeyValueHeads = try c.decodeIfPresent(Int.self, forKey: .numKeyValueHeads) ?? numAttentionHeads
        tieWordEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tieWordEmbeddings) ?? false
        if c.contains(.ropeScaling), try !c.decodeNil(forKey: .ropeScaling) {
            ropeScaling = try RopeScaling.decode(from: c.superDecoder(forKey: .ropeScaling))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(maxSequenceLength, forKey: .maxSequenceLength)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(initializerRange, forKey: .initializerRange)
        try c.encode(ropeTheta, forKey: .ropeTheta)
        try c.encodeIfPresent(padTokenId, forKey: .padTokenId)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        try c.encodeIfPresent(ropeScaling, forKey: .ropeScaling)
    }

    /// Checks the sizes make a model: positive, heads divide the width, head size even (RoPE).
    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw ModelError.invalidConfig(message) }
        }
        try require(hiddenSize > 0, "hidden_size must be positive, got \(hiddenSize)")
        try require(intermediateSize > 0, "intermediate_size must be positive, got \(intermediateSize)")
        try require(numAttentionHeads > 0, "num_attention_heads must be positive, got \(numAttentionHeads)")
        try require(numHiddenLayers > 0, "num_hidden_layers must be positive, got \(numHiddenLayers)")
        try require(vocabSize > 1, "vocab_size must be at least 2, got \(vocabSize)")
        try require(maxSequenceLength > 1, "max_sequence_length must be at least 2, got \(maxSequenceLength)")
        try require(rmsNormEps > 0, "rms_norm_eps must be positive, got \(rmsNormEps)")
        try require(hiddenSize % numAttentionHeads == 0,
                    "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        try require(headDim % 2 == 0, "head size \(headDim) must be even for rotary embeddings")
        try require(numKeyValueHeads > 0 && numAttentionHeads % numKeyValueHeads == 0,
                    "num_attention_heads \(numAttentionHeads) is not a multiple of num_key_value_heads \(numKeyValueHeads)")
        try require(ropeTheta.isFinite && ropeTheta > 0, "rope_theta must be positive, got \(ropeTheta)")
        try ropeScaling?.validate()
    }

    /// Reads a `config.json`, rejecting unknown keys and naming any missing one.
    public static func load(contentsOf url: URL) throws -> ModelConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ModelError.unreadableFile(url.path, "cannot read file")
        }
        return try decode(data, source: url.path)
    }

    /// Parses config JSON; `source` names the file in error messages.
    public static func decode(_ data: Data, source: String) throws -> ModelConfig {
        guard var object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ModelError.invalidConfig("\(source): not a JSON object")
        }
        if let parameters = object.removeValue(forKey: "rope_parameters") {
            // transformers ≥ 5 writes rope_theta and the scaling together as `rope_parameters`.
            guard var parameters = parameters as? [String: Any] else {
                throw ModelError.invalidConfig("\(source): rope_parameters must be an object")
            }
            if object["rope_scaling"].map({ !($0 is NSNull) }) ?? false {
                throw ModelError.invalidConfig("\(source): gives both rope_parameters and rope_scaling; keep one")
            }
            if let theta = parameters.removeValue(forKey: "rope_theta") {
                if let given = object["rope_theta"] as? Double, given != theta as? Double {
                    throw ModelError.invalidConfig("\(source): rope_theta \(given) and rope_parameters.rope_theta \(theta) disagree")
                }
                object["rope_theta"] = theta
            }
            object["rope_scaling"] = parameters
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue)).union(ignoredKeys)
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            let suggestion = known.min { editDistance($0, unknown) < editDistance($1, unknown) }
            let hint = suggestion.map { editDistance($0, unknown) <= 3 ? " (did you mean '\($0)'?)" : "" } ?? ""
            throw ModelError.invalidConfig("\(source): unknown key '\(unknown)'\(hint)")
        }
        if let act = object["hidden_act"] as? String, act != "silu" {
            throw ModelError.invalidConfig("\(source): hidden_act '\(act)' is not supported (only silu)")
        }
        if let headDim = object["head_dim"] as? Int, let hidden = object["hidden_size"] as? Int,
           let heads = object["num_attention_heads"] as? Int, headDim * heads != hidden {
            throw ModelError.invalidConfig("\(source): head_dim \(headDim) × heads \(heads) ≠ hidden_size \(hidden) is not supported")
        }
        if object["max_sequence_length"] == nil, let positions = object["max_position_embeddings"] {
            object["max_sequence_length"] = positions  // Hugging Face's name for the same limit
        }
        let normalized = try JSONSerialization.data(withJSONObject: object)
        do {
            let config = try JSONDecoder().decode(ModelConfig.self, from: normalized)
            try config.validate()
            return config
        } catch DecodingError.keyNotFound(let key, _) {
            throw ModelError.invalidConfig("\(source): missing required key '\(key.stringValue)'")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let key = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw ModelError.invalidConfig("\(source): key '\(key)' has the wrong type (\(context.debugDescription))")
        } catch let error as ModelError {
            throw ModelError.invalidConfig("\(source): \(error.message)")
        }
    }
}

/// Levenshtein distance, for "did you mean" hints.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var row = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var previous = row[0]
        row[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let current = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = current
        }
    }
    return a.isEmpty ? b.count : row[b.count]
}
