import MixLNData
import MixLNModel
import MixLNTensor

/// The gradient norms of a model's mean loss over given tokens, grouped per layer (the paper's
/// Figure of gradient norm against depth).
public struct GradientNormReport: Codable, Sendable {
    /// Mean loss over the tokens the gradient is of.
    public var loss: Double
    public var tokens: Int
    public var norms: GradientNorms

    enum CodingKeys: String, CodingKey { case loss, tokens }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(loss, forKey: .loss)
        try c.encode(tokens, forKey: .tokens)
        try norms.encode(to: encoder)  // embedding, layers, final_norm, lm_head, parameters, total beside them
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        loss = try c.decode(Double.self, forKey: .loss)
        tokens = try c.decode(Int.self, forKey: .tokens)
        norms = try GradientNorms(from: decoder)
    }

    public init(loss: Double, tokens: Int, norms: GradientNorms) {
        self.loss = loss
        self.tokens = tokens
        self.norms = norms
    }
}

public enum GradientNormAnalysis {
    /// Gradient of the mean loss over every predicted token of `batches` (no clipping): each batch's
    /// backward is weighted by its share of the tokens, so the sum is the gradient of the overall mean.
    public static func run(_ model: Transformer<Float>, batches: some Collection<TokenBatch>,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> GradientNormReport {
        guard model.weightPrecision == .fp32 else {
            throw AnalysisError.invalid("gradient norms need fp32 weights; this model keeps bf16 weights for the forward pass only")
        }
        let total = batches.reduce(0) { $0 + $1.predictedTokenCount }
        guard total > 0 else { throw AnalysisError.noTokens }
        model.zeroGradients()
        var lossSum = 0.0
        for (i, batch) in batches.enumerated() where batch.predictedTokenCount > 0 {
            let loss = try model.forward(tokens: batch.tokens, targets: batch.targets, batch: batch.batchSize, seqLen: batch.seqLen)
            let n = model.lastPredictedCount
            lossSum += loss * Double(n)
            model.backward(lossScale: Float(Double(n) / Double(total)))
            progress(i + 1, batches.count)
        }
        return GradientNormReport(loss: lossSum / Double(total), tokens: total, norms: model.gradientNorms())
    }
}
