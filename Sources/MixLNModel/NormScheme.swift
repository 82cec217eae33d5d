import Foundation

/// Named normalization schemes: factories that turn `--norm` (and `--post-num`) into a `NormPlan`.
///
/// This is the only place scheme names are read; the model only ever sees the plan. Our own names
/// (`mix:K`, `mix-reversed:K`, `scaled-mix:K`, `deepnorm`, …) mean what the README documents; each
/// official `NORM_TYPE` builds exactly what the official `modeling_llama.py` builds for it, down to
/// its defaults and constants (`pre_post`'s fixed 7 Pre-LN layers, `POST_NUM` defaulting to 1).
public enum NormScheme {
    /// Every accepted name, for help text and error messages.
    public static let names = [
        "pre", "post", "mix", "mix:K", "mix:0.25", "mix-reversed:K", "sandwich", "peri", "deepnorm",
        "deepnorm-official", "scaled-pre", "scaled-mix:K", "lns", "lns-learnable", "interleaved:P", "reordered",
        "rezero", "skipinit", "layerscale", "layerscale:E", "hybrid", "hybrid-star",
        "dyt-<scheme> (DyT at every norm site of that scheme)",
    ]
    /// The official code's `NORM_TYPE` strings we accept (its `pre_post_pre_post`, `pre_sandwich`,
    /// `mono`, `mono_reverse` and `scale_res_pre_norm` are not: the first is the identity, the others
    /// have no published result).
    public static let officialNames = [
        "pre", "post", "sandwich", "post_pre", "pre_post", "scale_pre", "scale_post_pre", "deeppost", "post_pre_post_pre",
    ]
    /// Official names that build exactly the plan of one of our names.
    static let officialAliases: [String: String] = [
        "deeppost": "deepnorm-official", "scale_pre": "scaled-pre", "post_pre_post_pre": "interleaved:4",
    ]
    /// The official `POST_NUM` when it is not set (`os.getenv('POST_NUM', '1')`).
    public static let officialDefaultPostNum = 1
    /// Leading Pre-LN layers of the official `pre_post` (hard-coded there as `max_pre_norm_layer = 7`).
    public static let officialPrePostPreLayers = 7

    /// Builds the plan for `name` on a model of `layers` layers.
    ///
    /// - Parameter postNum: the official `POST_NUM`: how many leading layers are Post-LN in `mix`,
    ///   `scaled-mix` (default ⌊L/4⌋), `post_pre`, `scale_post_pre` (default 1, as the official code),
    ///   or Pre-LN in `mix-reversed` (default ⌊L/4⌋). The official `pre_post` ignores `POST_NUM`, so
    ///   giving one with it is an error.
    public static func plan(_ name: String, layers: Int, postNum: Int? = nil) throws -> NormPlan {
        guard layers > 0 else { throw ModelError.invalidNormScheme("a model needs at least one layer") }
        let trimmed = name.trimmingCharacters(in: .whitespaces).lowercased()
        if trimmed.hasPrefix(NormPlan.dynamicTanhPrefix) {
            // `dyt-<scheme>`: that scheme's placement with DyT at every norm site, from the default α₀.
            let placement = String(trimmed.dropFirst(NormPlan.dynamicTanhPrefix.count))
            if placement.hasPrefix(NormPlan.dynamicTanhPrefix) { throw ModelError.invalidNormScheme("'\(name)' names DyT twice") }
            return try plan(placement, layers: layers, postNum: postNum).withNormFunction(.dyt(DynamicTanhInit()))
        }
        let resolved = officialAliases[trimmed] ?? trimmed
        let parts = resolved.split(separator: ":", maxSplits: 1).map(String.init)
        let base = parts[0]
        let argument = parts.count > 1 ? parts[1] : nil
        if argument != nil, postNum != nil {
            throw ModelError.invalidNormScheme("give the layer count either in '--norm \(name)' or with --post-num, not both")
        }
        let L = Double(layers)

        func leadingCount(default fallback: Int = layers / 4) throws -> Int {
            let k = try argument.map { try parseCount($0, layers: layers, scheme: name) } ?? postNum ?? fallback
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
        /// What the plan records as its scheme: parseable by this function again.
        var scheme = argument.map { "\(base):\($0)" } ?? base
        /// `prefix:K` for a count taken from `--post-num` or a default; the text given after ':' otherwise.
        func counted(_ prefix: String, _ k: Int) -> String { "\(prefix):\(argument ?? String(k))" }
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
            scheme = counted("mix", k)
        case "post_pre":
            // The official Mix-LN: Post-LN in layers < POST_NUM, Pre-LN after (our mix:K, but POST_NUM defaults to 1).
            let k = try leadingCount(default: officialDefaultPostNum)
            layerPlan = (0..<layers).map { LayerNorms(both: $0 < k ? .post : .pre) }
            scheme = "mix:\(k)"
        case "mix-reversed":
            let k = try leadingCount()
            layerPlan = (0..<layers).map { LayerNorms(both: $0 < k ? .pre : .post) }
            scheme = counted("mix-reversed", k)
        case "pre_post":
            // The official `pre_post`: Pre-LN in layers < 7 whatever the depth and POST_NUM, Post-LN after.
            try noArgument()
            if postNum != nil {
                throw ModelError.invalidNormScheme(
                    "the official 'pre_post' always makes layers 0..<\(officialPrePostPreLayers) Pre-LN and ignores POST_NUM; "
                        + "for K leading Pre-LN layers use --norm mix-reversed:K")
            }
            layerPlan = (0..<layers).map { LayerNorms(both: $0 < officialPrePostPreLayers ? .pre : .post) }
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
            // The official `deeppost`: α fixed at √8 (right only for L = 32), v/o/gate/up/down Xavier normal
            // with gain (8L)^¼ (scaled *up*, where DeepNet scales down), q/k Xavier normal with gain 1.
            try noArgument()
            let gain = pow(8 * L, 0.25)
            layerPlan = uniform(SublayerNorms(postNorm: true, residualScale: 8.0.squareRoot()),
                                LayerInit(distribution: .xavierNormal, queryKey: 1, value: gain, outputProjection: gain,
                                          gateUp: gain, downProjection: gain))
        case "scaled-pre":
            try noArgument()
            layerPlan = uniform(.pre, scaledInit(layers))
        case "scaled-mix":
            // Ours: mix:K with scaled o_proj/down_proj init in every layer.
            let k = try leadingCount()
            layerPlan = (0..<layers).map { LayerNorms(both: $0 < k ? .post : .pre, initialization: scaledInit(layers)) }
            scheme = counted("scaled-mix", k)
        case "scale_post_pre":
            // The official `scale_post_pre`: post_pre whose Pre-LN layers (index ≥ POST_NUM) alone get scaled init.
            let k = try leadingCount(default: officialDefaultPostNum)
            layerPlan = (0..<layers).map { $0 < k ? LayerNorms(both: .post) : LayerNorms(both: .pre, initialization: scaledInit(layers)) }
            scheme = "scale_post_pre:\(k)"
        case "lns":
            // LayerNorm Scaling: Pre-LN with layer ℓ's (1-based) input norms scaled by 1/√ℓ.
            try noArgument()
            layerPlan = (0..<layers).map { i in
                LayerNorms(both: SublayerNorms(inputNorm: true, inputNormScale: 1 / Double(i + 1).squareRoot()))
            }
        case "lns-learnable":
            // LayerNorm Scaling, learnable variant: the input norms' weights start at 1/√ℓ (and learn) instead of a fixed scale.
            try noArgument()
            layerPlan = (0..<layers).map { i in LayerNorms(both: .pre, initialization: LayerInit(inputNormWeight: 1 / Double(i + 1).squareRoot())) }
        case "reordered":
            // OLMo 2's reordered norm: the sublayer output normalized before the residual add, no input norm.
            try noArgument()
            layerPlan = uniform(SublayerNorms(outputNorm: true))
        case "rezero":
            // ReZero (Bachlechner et al. 2021): no norm, x + a·F(x) with one learnable scalar a per sublayer from 0.
            try noArgument()
            layerPlan = uniform(SublayerNorms(outputScale: OutputScale(perChannel: false, initialValue: 0)))
        case "skipinit":
            // SkipInit (De & Smith 2020): ReZero's scalar, from 1/√L, so every branch computes from the first step.
            try noArgument()
            layerPlan = uniform(SublayerNorms(outputScale: OutputScale(perChannel: false, initialValue: 1 / L.squareRoot())))
        case "layerscale":
            // LayerScale (Touvron et al. 2021, CaiT): Pre-LN with a per-channel λ on each sublayer output, from ε:
            // CaiT's 0.1 up to 18 layers, 1e-5 up to 24, 1e-6 deeper; `layerscale:E` sets ε.
            let epsilon = try argument.map { text -> Double in
                guard let value = Double(text), value.isFinite, value >= 0 else {
                    throw ModelError.invalidNormScheme("'\(name)': expected a non-negative initial scale after ':', got '\(text)'")
                }
                return value
            } ?? (layers <= 18 ? 0.1 : layers <= 24 ? 1e-5 : 1e-6)
            layerPlan = uniform(SublayerNorms(inputNorm: true, outputScale: OutputScale(perChannel: true, initialValue: epsilon)))
        case "hybrid", "hybrid-star":
            // HybridNorm (Zhuo et al. 2025): attention without an input norm but with q, k and v each
            // normalized (over their whole projections), FFN `y = N(h) + FFN(N(h))`. HybridNorm* keeps the
            // first block Pre-LN: its attention gets the input norm too and its FFN the plain `h + FFN(N(h))`.
            try noArgument()
            let hybrid = LayerNorms(attention: SublayerNorms(), mlp: SublayerNorms(inputNorm: true, skipFromNormedInput: true),
                                    qkNorm: .full, valueNorm: true)
            let first = LayerNorms(attention: .pre, mlp: .pre, qkNorm: .full, valueNorm: true)
            layerPlan = (0..<layers).map { $0 == 0 && base == "hybrid-star" ? first : hybrid }
        case "interleaved":
            let period = try argument.map { try parseCount($0, layers: layers, scheme: name) } ?? 4
            guard period >= 1 else { throw ModelError.invalidNormScheme("'\(name)': the period must be at least 1") }
            layerPlan = (0..<layers).map { LayerNorms(both: ($0 + 1) % period == 0 ? .pre : .post) }
        default:
            throw ModelError.invalidNormScheme(
                "unknown norm scheme '\(name)'; known: \(names.joined(separator: ", ")) "
                    + "(official NORM_TYPE names \(officialNames.joined(separator: ", ")) also work)")
        }
        return NormPlan(layers: layerPlan, embeddingNorm: embeddingNorm, scheme: scheme)
    }

    /// The official `NORM_TYPE` (and `POST_NUM`) that builds exactly this plan, if there is one.
    public static func officialName(_ plan: NormPlan) -> (normType: String, postNum: Int?)? {
        let L = plan.layers.count
        var candidates: [(String, Int?)] = [("pre", nil), ("post", nil), ("sandwich", nil), ("deeppost", nil),
                                            ("scale_pre", nil), ("post_pre_post_pre", nil), ("pre_post", nil)]
        for k in 0...L { candidates += [("post_pre", k), ("scale_post_pre", k)] }
        for (name, k) in candidates {
            if let candidate = try? Self.plan(name, layers: L, postNum: k),
               candidate.buildsSameModel(as: plan) {
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
