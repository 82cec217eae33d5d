import MixLNTensor

// Dimensions: B batch, T tokens, N = B·T, C channels, V vocabulary, M rows with a target (per chunk).

extension Transformer {
    /// Rows of the LM head computed per chunk in `targetLogProbabilities` (bounds its logits buffer).
    static var logProbabilityChunkElements: Int { 1 << 22 }

    /// Runs the model on `tokens` (B, T) and returns, for every position, the log-probability of its
    /// target given the tokens up to it, `log p(targets[n] | tokens[…n])`; 0 where the target is
    /// `CrossEntropy.ignoreIndex`. This is what multiple-choice scoring sums over a continuation.
    ///
    /// The layers run as in a forward-only `forward` (every target ignored, keeping only what the loss
    /// would need, so no LM head runs there); the final norm and LM head (`headLogits`) then run on the
    /// rows that have a target only, in chunks, and each row gives
    /// `logits[target] − log Σ exp(logits)` (the loss's own log-sum-exp kernel), which stays exact
    /// where the probability itself would underflow in Float.
    /// - Parameters: tokens (B·T) input ids, targets (B·T) next-token ids or ignore
    /// - Returns: (B·T) log-probabilities
    public func targetLogProbabilities(tokens: [Int32], targets: [Int32], batch B: Int, seqLen T_: Int) throws -> [Double] {
        let N = B * T_, V = config.vocabSize
        precondition(targets.count == N, "targets must hold batch·seqLen ids")
        for id in targets where id != CrossEntropy.ignoreIndex && (id < 0 || Int(id) >= V) {
            throw ModelError.tokenOutOfRange(token: Int(id), vocabSize: V)
        }
        try forward(tokens: tokens, targets: [Int32](repeating: CrossEntropy.ignoreIndex, count: N), batch: B, seqLen: T_,
                    retaining: .loss)  // forward-only: no per-layer buffers, no whole-vocabulary head
        guard let a = activations else { preconditionFailure("forward leaves its activations") }
        var result = [Double](repeating: 0, count: N)  // (N)
        let rows = (0..<N).filter { targets[$0] != CrossEntropy.ignoreIndex }
        let chunk = headChunk(rows: min(max(1, Self.logProbabilityChunkElements / V), rows.count))  // (M, V) logits
        let output = a.stream(2 * config.numHiddenLayers).pointer  // (N, C) the last layer's output, kept by the forward
        for start in stride(from: 0, to: rows.count, by: chunk.capacity) {
            let part = rows[start..<min(rows.count, start + chunk.capacity)]
            headLogits(of: output, rows: part, into: chunk)
            result.withUnsafeMutableBufferPointer { out in
                Parallel.forEachChunk(part.count, minimumPerThread: 4) { range in
                    for m in range {
                        let n = part[part.startIndex + m], row = chunk.logits.pointer + m * V
                        let targetLogit = row[Int(targets[n])]
                        let logSumExp = VectorMath.softmax(row, V)  // the same kernel as the loss
                        out[n] = Double(targetLogit) - Double(logSumExp)
                    }
                }
            }
        }
        return result
    }
}
