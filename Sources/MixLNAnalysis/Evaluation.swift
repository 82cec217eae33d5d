import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// Loss and perplexity of a model over a set of token batches.
public struct EvaluationResult: Codable, Equatable, Sendable {
    /// Mean cross-entropy over every predicted (non-ignored) token.
    public var loss: Double
    public var perplexity: Double
    /// Number of predicted tokens.
    public var tokens: Int
}

public enum Evaluation {
    /// Batches in order until at least `maxTokens` predicted tokens (whole batches), or all.
    /// Lazily built batches (`TokenBatches`) stay lazy: only those counted are read, once.
    public static func limit<Batches: Collection>(_ batches: Batches, maxTokens: Int?) -> Batches.SubSequence
    where Batches.Element == TokenBatch {
        guard let maxTokens else { return batches[...] }
        var end = batches.startIndex, total = 0
        while end != batches.endIndex, total < maxTokens {
            total += batches[end].predictedTokenCount
            batches.formIndex(after: &end)
        }
        return batches[..<end]
    }

    /// The token-weighted mean loss of `model` over `batches` (padding and ignored targets excluded).
    /// Forward only, keeping nothing but the loss (`ForwardRetention.loss`): no gradients, no backward scratch.
    public static func evaluate(_ model: Transformer<Float>, batches: some Collection<TokenBatch>,
                                progress: (Int, Int) -> Void = { _, _ in }) throws -> EvaluationResult {
        var lossSum = 0.0, count = 0
        for (i, batch) in batches.enumerated() {
            let loss = try model.forward(tokens: batch.tokens, targets: batch.targets, batch: batch.batchSize, seqLen: batch.seqLen,
                                         retaining: .loss)
            let n = model.lastPredictedCount
            if n > 0 {
                lossSum += loss * Double(n)
                count += n
            }
            progress(i + 1, batches.count)
        }
        guard count > 0 else { throw AnalysisError.noTokens }
        let mean = lossSum / Double(count)
        return EvaluationResult(loss: mean, perplexity: exp(mean), tokens: count)
    }
}

/// Errors of the analyses, one sentence each.
public enum AnalysisError: Error, CustomStringConvertible, Equatable {
    case noTokens
    case invalid(String)

    public var description: String {
        switch self {
        case .noTokens: return "the data holds no tokens to predict (every sequence is shorter than 2 tokens, or the token budget is 0)"
        case .invalid(let m): return m
        }
    }
}
