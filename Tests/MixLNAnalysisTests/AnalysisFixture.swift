import MixLNData
import MixLNModel

/// The tiny model and batches the analysis tests share.
enum AnalysisFixture {
    static let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 4,
                                    vocabSize: 40, maxSequenceLength: 16, padTokenId: nil)

    /// A 4-layer model with the scheme's placement, seeded weights, RMSNorm ε as given.
    static func model(_ scheme: String, eps: Double = 1e-6) throws -> Transformer<Float> {
        var config = config
        config.rmsNormEps = eps
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan(scheme, layers: 4))
        model.initializeWeights(seed: 4)
        return model
    }

    /// Two sequences of 10 tokens; the second has 6 real positions, the last 4 are padding (ignored).
    static func batches() -> [TokenBatch] {
        var tokens: [Int32] = [], targets: [Int32] = []
        for (s, length) in [10, 6].enumerated() {
            let ids = (0..<10).map { Int32(($0 * 7 + s * 3) % 40) }
            tokens += ids
            targets += (0..<10).map { $0 + 1 < length ? ids[$0 + 1] : CrossEntropy.ignoreIndex }
        }
        return [TokenBatch(batchSize: 2, seqLen: 10, tokens: tokens, targets: targets, predictedTokenCount: 9 + 5)]
    }
}
