/// A JSON key chosen at run time: the objective metrics (`rewards/chosen`, …) that step and eval
/// records write beside their fixed keys, as TRL logs them.
struct MetricKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }

    /// Writes `metrics` as top-level keys of the record `encoder` is writing.
    static func encode(_ metrics: [String: Double], to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: MetricKey.self)
        for (name, value) in metrics { try container.encode(value, forKey: MetricKey(stringValue: name)) }
    }

    /// The numeric top-level keys of the record `decoder` reads that are not among `known`.
    static func decode(from decoder: Decoder, known: Set<String>) throws -> [String: Double] {
        let container = try decoder.container(keyedBy: MetricKey.self)
        var metrics: [String: Double] = [:]
        for key in container.allKeys where !known.contains(key.stringValue) {
            if let value = try? container.decode(Double.self, forKey: key) { metrics[key.stringValue] = value }
        }
        return metrics
    }
}

extension StepRecord {
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        loss = try c.decode(Double.self, forKey: .loss)
        lr = try c.decode(Double.self, forKey: .lr)
        gradNorm = try c.decode(Double.self, forKey: .gradNorm)
        gradNorms = try c.decode(GradientNormSummary.self, forKey: .gradNorms)
        tokens = try c.decode(Int.self, forKey: .tokens)
        tokensPerSecond = try c.decode(Double.self, forKey: .tokensPerSecond)
        elapsedSeconds = try c.decode(Double.self, forKey: .elapsedSeconds)
        allReduceSeconds = try c.decodeIfPresent(Double.self, forKey: .allReduceSeconds)
        // Records carry `event` beside these keys in metrics.jsonl; it is a string, so never a metric.
        metrics = try MetricKey.decode(from: decoder, known: Set(CodingKeys.allCases.map(\.stringValue)))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(loss, forKey: .loss)
        try c.encode(lr, forKey: .lr)
        try c.encode(gradNorm, forKey: .gradNorm)
        try c.encode(gradNorms, forKey: .gradNorms)
        try c.encode(tokens, forKey: .tokens)
        try c.encode(tokensPerSecond, forKey: .tokensPerSecond)
        try c.encode(elapsedSeconds, forKey: .elapsedSeconds)
        try c.encodeIfPresent(allReduceSeconds, forKey: .allReduceSeconds)
        try MetricKey.encode(metrics, to: encoder)
    }
}

extension EvalRecord {
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        step = try c.decode(Int.self, forKey: .step)
        loss = try c.decode(Double.self, forKey: .loss)
        perplexity = try c.decode(Double.self, forKey: .perplexity)
        tokens = try c.decode(Int.self, forKey: .tokens)
        metrics = try MetricKey.decode(from: decoder, known: Set(CodingKeys.allCases.map(\.stringValue)))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(step, forKey: .step)
        try c.encode(loss, forKey: .loss)
        try c.encode(perplexity, forKey: .perplexity)
        try c.encode(tokens, forKey: .tokens)
        try MetricKey.encode(metrics, to: encoder)
    }
}
