import ArgumentParser
import MixLNModel

/// The options that choose a model: size, norm placement and overrides.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Preset (\(ModelPresets.names.joined(separator: ", "))) or a config.json path.")
    var model: String?

    @Option(name: .long, help: "Norm scheme: \(NormScheme.names.joined(separator: ", ")), or an official NORM_TYPE (post_pre, …). Default: pre.")
    var norm: String?

    @Option(name: .long, help: "Official POST_NUM: leading Post-LN layers for mix / post_pre (default ⌊L/4⌋ for mix; 1 for post_pre / scale_post_pre, as the official code).")
    var postNum: Int?

    @Option(name: .long, help: "QK-norm, with any --norm: none, head (RMSNorm of each head's queries and keys before RoPE, as Qwen3), full (over the whole q and k projections, as OLMo 2). Default: none.")
    var qkNorm: String?

    @Flag(name: .long, help: "GPAS (gradient-preserving activation scaling) in every layer, with any --norm: one gate a per layer, from 0, scaling by 1 − SiLU(a) with a stop-gradient, after the residual add or on a post-norm sublayer's shortcut.")
    var gpas = false

    @Option(name: .long, help: "Override num_hidden_layers of the preset (e.g. a 12-layer model of the 9m width).")
    var layers: Int?

    @Option(name: .long, help: "Override vocab_size: a number, or 'tokenizer' for the tokenizer's own size.")
    var vocabSize: String?

    /// The config with overrides applied; `tokenizerVocabulary` resolves `--vocab-size tokenizer`.
    func resolveConfig(tokenizerVocabulary: Int? = nil) throws -> ModelConfig {
        guard let model else { throw CLIError("--model is required (a preset such as 20m, or a config.json)") }
        var config = try ModelPresets.resolve(model)
        if let layers {
            guard layers > 0 else { throw CLIError("--layers must be positive, got \(layers)") }
            config.numHiddenLayers = layers
        }
        if let vocabSize {
            if vocabSize == "tokenizer" {
                guard let tokenizerVocabulary else { throw CLIError("--vocab-size tokenizer needs a tokenizer; pass --tokenizer, or give the size as a number") }
                config.vocabSize = tokenizerVocabulary
            } else if let n = Int(vocabSize), n > 1 {
                config.vocabSize = n
            } else {
                throw CLIError("--vocab-size must be a number above 1 or 'tokenizer', got '\(vocabSize)'")
            }
        }
        try config.validate()
        return config
    }

    func resolvePlan(layers: Int) throws -> NormPlan {
        let named = try NormScheme.plan(norm ?? "pre", layers: layers, postNum: postNum)
        let plan = try resolvedQKNorm().map { named.withQKNorm($0) } ?? named
        return gpas ? plan.withGPAS() : plan
    }

    /// `--qk-norm` as a mode (nil when not given); read as text so a bad value is one line.
    func resolvedQKNorm() throws -> QKNorm? {
        guard let qkNorm else { return nil }
        guard let mode = QKNorm(rawValue: qkNorm) else {
            throw CLIError("--qk-norm must be one of \(QKNorm.allCases.map(\.rawValue).joined(separator: ", ")), got '\(qkNorm)'")
        }
        return mode
    }
}
