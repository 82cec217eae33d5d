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
    public static func run(_ model: Transformer<Float>, batches: [TokenBatch],
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> LayerDropReport {
        let L = model.config.numHiddenLayers
        let saved = model.skippedLayers
        defer { model.skippedLayers = saved }
        model.skippedLayers = []
        let full = try Evaluation.evaluate(model, batches: batches)
        progress(1, L + 1)
        var entries: [LayerDropReport.Entry] = []
        for l in 0..<L {
            model.skippedLayers = [l]
            let result = try Evaluation.evaluate(model, batches: batches)
            entries.append(.init(layer: l, loss: result.loss, perplexity: result.perplexity,
                                 deltaPerplexity: result.perplexity - full.perplexity))
            progress(l + 2, L + 1)
        }
        return LayerDropReport(baseline: .init(loss: full.loss, perplexity: full.perplexity), layers: entries, tokens: full.tokens)
    }
}
