import Foundation

/// Named normalization schemes: factories that turn `--norm` (and `--post-num`) into a `NormPlan`.
///
/// This is the only place scheme names are read; the model only ever sees the plan.
public enum NormScheme {
    /// Every accepted name, for help text and error messages.
    public static let names = [
        "pre", "post", "mix", "mix:K", "mix:0.25", "mix-reversed:K", "sandwich", "peri", "deepnorm",
        "deepnorm-official", "scaled-pre", "scaled-mix:K", "lns", "interleaved:P",
    ]
    /// The official code's `NORM_TYPE` strings and the scheme each stands for.
    public static let officialAliases: [String: String] = [
        "post_pre": "mix", "pre_post": "mix-reversed", "deeppost": "deepnorm-official",
        "scale_pre": "scaled-pre", "scale_post_pre": "scaled-mix", "post_pre_post_pre": "interleaved:4",
    ]

    /// Builds the plan for `name` on a model of `layers` layers.
    ///
    /// - Parameter postNum: the official `POST_NUM`: how many leading layers are Post-LN in `mix`,
    ///   `post_pre`, `scaled-mix` (default ⌊L/4⌋), or Pre-LN in `mix-reversed`/`pre_post`.
    public static func plan(_ name: String, layers: Int, postNum: Int? = nil) throws -> NormPlan {
        guard layers > 0 else { throw ModelError.invalidNormScheme("a model needs at least one layer") }
        let trimmed = name.trimmingCharacters(in: .whitespaces).lowercased()
        let resolved = officialAliases[trimmed] ?? trimmed
        let parts = resolved.split(separator: ":", maxSplits: 1).map(String.init)
        let base = parts[0]
        let argument = parts.count > 1 ? parts[1] : nil
        if argument != nil, postNum != nil {
            throw ModelError.invalidNormScheme("give the layer count either in '--norm \(name)' or with --post-num, not both")
        }
        let L = Double(layers)

        func leadingCount() throws -> Int {
            let k = try argument.map { try parseCount($0, layers: layers, scheme: name) } ?? postNum ?? layers / 4
            guard (0...layers).contains(k) else {
                throw ModelError.invalidNormScheme("'\(name)' asks for \(k) leading layers but the model has \(layers)")
            }
            return k
        }
        func noArgument() throws {
            if argument != nil { throw ModelError.invalidNormScheme("scheme '\(base)' takes no ':' argument") }
        }
        func uniform(_ norms: SublayerNorms, _ initRule: LayerInit = LayerInit()) -> [LayerNorms] {
            Array(repeating: LayerNorms(both: norms, initialization: initRule), count: layers)
        }

        let layerPlan: [LayerNorms]
        var embeddingNorm = false
        switch base {
        case "pre":
            try noArgument()
            layerPlan = uniform(.pre)
        case "post":
            try noArgument()
            layerPlan = uniform(.post)
        case "mix":
            let k = try leadingCount()
            layerPlan = (0..<layers).map { LayerNorms(both: $0 < k ? .post : .pre) }
        case "mix-reversed":
            let k = try leadingCount()
            layerPlan = (0..<layers).map { LayerNorms(both: $0 < k ? .pre : .post) }
        case "sandwich":
            try noArgument()
            layerPlan = uniform(.sandwich)
        case "peri":
            try noArgument()
            layerPlan = uniform(.sandwich)
            embeddingNorm = true
        case "deepnorm":
            // DeepNet: α = (2L)^¼ on the skip path; value, output and MLP weights scaled by β = (8L)^-¼.
            try noArgument()
            let alpha = pow(2 * L, 0.25), beta = pow(8 * L, -0.25)
            layerPlan = uniform(SublayerNorms(postNorm: true, residualScale: alpha), deepNormInit(beta))
        case "deepnorm-official":
            // The official `deeppost`: α fixed at √8 and weights scaled *up* by (8L)^¼ (see paper-facts.md).
            try noArgument()
            layerPlan = uniform(SublayerNorms(postNorm: true, residualScale: 8.0.squareRoot()), deepNormInit(pow(8 * L, 0.25)))
        case "scaled-pre":
            try noArgument()
            layerPlan = uniform(.pre, scaledInit(layers))
        case "scaled-mix":
            let k = try leadingCount()
            layerPlan = (0..<layers).map { LayerNorms(both: $0 < k ? .post : .pre, initialization: scaledInit(layers)) }
        case "lns":
            // LayerNorm Scaling: Pre-LN with layer ℓ's (1-based) input norms scaled by 1/√ℓ.
            try noArgument()
            layerPlan = (0..<layers).map { i in
                LayerNorms(both: SublayerNorms(inputNorm: true, inputNormScale: 1 / Double(i + 1).squareRoot()))
            }
        case "interleaved":
            let period = try argument.map { try parseCount($0, layers: layers, scheme: name) } ?? 4
            guard period >= 1 else { throw ModelError.invalidNormScheme("'\(name)': the period must be at least 1") }
            layerPlan = (0..<layers).map { LayerNorms(both: ($0 + 1) % period == 0 ? .pre : .post) }
        default:
            throw ModelError.invalidNormScheme(
                "unknown norm scheme '\(name)'; known: \(names.joined(separator: ", ")) "
                    + "(official names \(officialAliases.keys.sorted().joined(separator: ", ")) also work)")
        }
        var canonical = base
        if let argument { canonical = "\(base):\(argument)" } else if ["mix", "mix-reversed", "scaled-mix"].contains(base) {
            canonical = "\(base):\(try leadingCount())"
        }
        return NormPlan(layers: layerPlan, embeddingNorm: embeddingNorm, scheme: canonical)
    }

    /// The official `NORM_TYPE` (and `POST_NUM`) that builds exactly this plan, if there is one.
    public static func officialName(_ plan: NormPlan) -> (normType: String, postNum: Int?)? {
        let L = plan.layers.count
        var candidates: [(String, Int?)] = [("pre", nil), ("post", nil), ("sandwich", nil), ("deeppost", nil),
                                            ("scale_pre", nil), ("post_pre_post_pre", nil)]
        for k in 0...L { candidates += [("post_pre", k), ("pre_post", k), ("scale_post_pre", k)] }
        for (name, k) in candidates {
            if let candidate = try? Self.plan(name, layers: L, postNum: k),
               candidate.layers == plan.layers, candidate.embeddingNorm == plan.embeddingNorm {
                return (name, k)
            }
        }
        return nil
    }

    /// `K` (an integer count) or `α` (a fraction in [0, 1] written with a dot): ⌊α·L⌋.
    static func parseCount(_ text: String, layers: Int, scheme: String) throws -> Int {
        if text.contains("."), let fraction = Double(text) {
            guard (0...1).contains(fraction) else {
                throw ModelError.invalidNormScheme("'\(scheme)': the fraction must be between 0 and 1, got \(text)")
            }
            return Int((fraction * Double(layers)).rounded(.down))
        }
        guard let k = Int(text), k >= 0 else {
            throw ModelError.invalidNormScheme("'\(scheme)': expected a layer count or a fraction after ':', got '\(text)'")
        }
        return k
    }

    static func deepNormInit(_ gain: Double) -> LayerInit {
        LayerInit(value: gain, outputProjection: gain, gateUp: gain, downProjection: gain)
    }

    static func scaledInit(_ layers: Int) -> LayerInit {
        let gain = 1 / (2 * Double(layers)).squareRoot()
        return LayerInit(outputProjection: gain, downProjection: gain)
    }
}
