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

    @Option(name: .long, help: "Norm function at every norm site (sublayer input, output and post norms, the embedding and final norms), with any --norm: rms (RMSNorm, default) or dyt (Dynamic Tanh, γ ⊙ tanh(α·x) with a learnable α per site, and a learnable scale on the embedding from √C; Zhu et al. 2025). Not with --qk-norm. A dyt- prefix on the scheme (--norm dyt-pre) says the same.")
    var normFn: String?

    @Option(name: .long, help: "DyT's α₀ (with --norm-fn dyt or a dyt- scheme): A,B — attention sites and the embedding norm start from A, MLP sites and the final norm from B — or one value for both. Default: 0.5,0.5.")
    var dytAlpha: String?

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
        let withQK = try resolvedQKNorm().map { named.withQKNorm($0) } ?? named
        let plan = (gpas ? withQK.withGPAS() : withQK).withNormFunction(try normFunction(over: named))
        try plan.validate(layerCount: layers)
        return plan
    }

    /// The norm function of a model whose scheme is `named` (DyT for a `dyt-` scheme), with
    /// `--norm-fn` and `--dyt-alpha` applied; each must agree with the scheme.
    func normFunction(over named: NormPlan) throws -> NormFunction {
        let alphas = try resolvedDytAlpha()
        switch try resolvedNormFn() {
        case nil:
            guard let alphas else { return named.normFunction }
            guard case .dyt = named.normFunction else {
                throw CLIError("--dyt-alpha sets DyT's α₀; it needs --norm-fn dyt (or a dyt- scheme such as --norm dyt-\(named.scheme))")
            }
            return .dyt(alphas)
        case .rms?:
            if case .dyt = named.normFunction {
                throw CLIError("--norm \(named.scheme) chooses DyT and --norm-fn rms RMSNorm; give one (--norm \(named.withNormFunction(.rms).scheme) for RMSNorm)")
            }
            if alphas != nil { throw CLIError("--dyt-alpha sets DyT's α₀; it needs --norm-fn dyt, not rms") }
            return .rms
        case .dyt?:
            return .dyt(alphas ?? DynamicTanhInit())
        }
    }

    /// `--norm-fn` as a function (DyT from the default α₀; nil when not given).
    func resolvedNormFn() throws -> NormFunction? {
        guard let normFn else { return nil }
        guard let function = NormFunction.named(normFn) else {
            throw CLIError("--norm-fn must be one of \(NormFunction.names.joined(separator: ", ")), got '\(normFn)'")
        }
        return function
    }

    /// `--dyt-alpha` parsed (nil when not given).
    func resolvedDytAlpha() throws -> DynamicTanhInit? {
        guard let dytAlpha else { return nil }
        do { return try DynamicTanhInit.parse(dytAlpha) } catch let error as ModelError { throw CLIError("--dyt-alpha: \(error.message)") }
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
