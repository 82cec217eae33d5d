import MixLNModel
import MixLNTensor

// Dimensions: B rows (choices) per forward, T positions per row.

/// Summed log-likelihoods of continuations given their contexts, many choices per forward.
///
/// Choices are sorted longest first (as the harness's collator does) and packed into forwards of
/// about `batchTokens` positions, each row right-padded to the batch's longest input rounded up to
/// a multiple of `lengthStep` (so the activation buffers change shape rarely). The causal mask keeps
/// padding from reaching real positions, and only continuation positions carry targets, so the
/// result does not depend on the batching.
public enum ContinuationScorer {
    /// Padded row lengths are multiples of this (capped at the model's window).
    public static let lengthStep = 16

    /// For each choice, `Σ log p(continuation token | everything before it)` over its continuation
    /// (0 for a continuation of no tokens, as the harness gives).
    /// - Parameters:
    ///   - batchTokens: padded positions per forward (rows = batchTokens / row length, at least 1).
    ///   - progress: (choices scored, total) after each forward.
    public static func loglikelihoods(_ model: Transformer<Float>, choices: [EncodedChoice], batchTokens: Int,
                                      progress: (Int, Int) -> Void = { _, _ in }) throws -> [Double] {
        precondition(batchTokens > 0, "batchTokens must be positive")
        let window = model.config.maxSequenceLength
        var sums = [Double](repeating: 0, count: choices.count)
        let scored = choices.indices.filter { choices[$0].continuationCount > 0 }
        let order = scored.sorted { a, b in  // longest first, ties in input order
            let (la, lb) = (choices[a].tokens.count, choices[b].tokens.count)
            return la != lb ? la > lb : a < b
        }
        var done = choices.count - order.count
        var start = 0
        while start < order.count {
            let longest = choices[order[start]].tokens.count - 1
            precondition(longest <= window, "choices must be cut to the model's window + 1 ids")
            let T = min(window, (longest + lengthStep - 1) / lengthStep * lengthStep)
            let rows = Array(order[start..<min(order.count, start + max(1, batchTokens / T))])
            let B = rows.count
            var tokens = [Int32](repeating: 0, count: B * T)                          // (B, T)
            var targets = [Int32](repeating: CrossEntropy.ignoreIndex, count: B * T)  // (B, T)
            for (b, index) in rows.enumerated() {
                let ids = choices[index].tokens, inputs = ids.count - 1
                for p in 0..<inputs { tokens[b * T + p] = ids[p] }
                for p in (inputs - choices[index].continuationCount)..<inputs { targets[b * T + p] = ids[p + 1] }
            }
            let logProbabilities = try model.targetLogProbabilities(tokens: tokens, targets: targets, batch: B, seqLen: T)
            for (b, index) in rows.enumerated() {
                let inputs = choices[index].tokens.count - 1
                var sum = 0.0
                for p in (inputs - choices[index].continuationCount)..<inputs { sum += logProbabilities[b * T + p] }
                sums[index] = sum
            }
            start += B
            done += B
            progress(done, choices.count)
        }
        return sums
    }
}
