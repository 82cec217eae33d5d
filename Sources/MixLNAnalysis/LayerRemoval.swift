import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// Performance drop when one decoder layer is removed (bypassed, no retraining): ΔP(ℓ) = P(without ℓ) − P(full).
public struct LayerDropReport: Codable, Sendable {
    public struct Baseline: Codable, Sendable {
        public var loss: Double
        public var perplexity: Double
        /// Task accuracies of the full model (`analyze layer-drop --tasks`).
        public var tasks: [TaskAccuracy]? = nil
    }

    public struct Entry: Codable, Sendable {
        public var layer: Int
        public var loss: Double
        public var perplexity: Double
        public var deltaPerplexity: Double
        /// Task accuracies without this layer (`analyze layer-drop --tasks`).
        public var tasks: [LayerTaskAccuracy]? = nil

        enum CodingKeys: String, CodingKey { case layer, loss, perplexity, deltaPerplexity = "delta_perplexity", tasks }
    }

    public var baseline: Baseline
    public var layers: [Entry]
    public var tokens: Int
}

public enum LayerRemoval {
    /// Evaluates the full model, then the model with each layer skipped in turn (its block is the identity).
    ///
    /// Batch by batch: one full forward keeps the residual stream entering every layer, then for each
    /// ℓ the model reruns from layer ℓ's kept input with ℓ skipped (layers 0..<ℓ are unchanged, so
    /// their output is that input). Over L layers that is L + Σ(L−1−ℓ) = L(L+1)/2 layer passes, about
    /// (L+1)/2 full evaluations instead of L+1, plus L+1 LM heads; the losses are exactly those of
    /// whole forwards with the layer skipped. Memory: the L+1 layer inputs of one batch, (L+1)·B·T·C.
    public static func run(_ model: Transformer<Float>, batches: some Collection<TokenBatch>,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> LayerDropReport {
        let L = model.config.numHiddenLayers
        let saved = model.skippedLayers
        defer { model.skippedLayers = saved }
        var lossSums = Array(repeating: 0.0, count: L + 1)  // [0] the full model, [ℓ+1] without layer ℓ
        var count = 0
        for (i, batch) in batches.enumerated() {
            model.skippedLayers = []
            let full = try model.forward(tokens: batch.tokens, targets: batch.targets, batch: batch.batchSize,
                                         seqLen: batch.seqLen, retaining: .layerInputs)
            let n = model.lastPredictedCount
            if n > 0 {
                lossSums[0] += full * Double(n)
                for l in 0..<L {
                    model.skippedLayers = [l]
                    lossSums[l + 1] += model.resumeForward(fromLayer: l) * Double(n)
                }
                count += n
            }
            progress(i + 1, batches.count)
        }
        guard count > 0 else { throw AnalysisError.noTokens }
        let means = lossSums.map { $0 / Double(count) }
        let baseline = LayerDropReport.Baseline(loss: means[0], perplexity: exp(means[0]))
        let entries = (0..<L).map { l in
            LayerDropReport.Entry(layer: l, loss: means[l + 1], perplexity: exp(means[l + 1]),
                                  deltaPerplexity: exp(means[l + 1]) - baseline.perplexity)
        }
        return LayerDropReport(baseline: baseline, layers: entries, tokens: count)
    }
}
