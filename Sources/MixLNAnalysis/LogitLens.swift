import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

// Dimensions: N = B·T rows, C channels, V vocabulary, L layers, R rows per head chunk, M ≤ R rows in a chunk.

/// The logit lens: what the model would predict if it stopped at layer ℓ, by applying the final
/// RMSNorm and the LM head to the residual stream entering layer ℓ (x_ℓ, as `analyze angular`
/// defines it) — how early each scheme's layers commit to their answer, and how much the deep
/// layers still change it.
public struct LogitLensReport: Codable, Sendable {
    public struct Layer: Codable, Equatable, Sendable {
        /// ℓ, 0-based: the input of decoder layer ℓ; ℓ = L is the last layer's output, the model's own prediction.
        public var layer: Int
        /// Mean cross-entropy of the lens distribution p_ℓ against the real next token, in nats
        /// (at ℓ = L the model's loss, as `eval` computes it).
        public var loss: Double
        /// Fraction of tokens whose most likely token under p_ℓ is the model's own (under p_L); 1 at ℓ = L.
        public var top1Agreement: Double
        /// Mean KL(p_L ‖ p_ℓ) = Σ_v p_L(v) log(p_L(v)/p_ℓ(v)) in nats: the final distribution's
        /// divergence from the lens (the usual logit-lens direction); 0 at ℓ = L.
        public var klToFinal: Double

        enum CodingKeys: String, CodingKey { case layer, loss, top1Agreement = "top1_agreement", klToFinal = "kl_to_final" }
    }

    /// Predicted (non-padding, non-ignored) tokens averaged over.
    public var tokens: Int
    /// ℓ = 0 … L, L + 1 entries.
    public var layers: [Layer]
}

public enum LogitLens {
    /// Logits per head chunk: R = this / V rows, and two (R, V) buffers are held (the final layer's
    /// logits and the layer under the lens). Tests lower it to force many chunks.
    nonisolated(unsafe) static var chunkElements = 1 << 22

    /// The lens at every layer, averaged over every predicted token of `batches`.
    ///
    /// Batch by batch, one forward keeps the layer inputs x_0 … x_L (the LM head is not run there);
    /// then, R predicted rows at a time, the head runs on x_L once — its logits kept for the chunk —
    /// and on each x_ℓ in turn, and every row gives its cross-entropy, argmax and KL against the kept
    /// logits (`VectorMath.softmaxDivergence`: precise even for the tiny KL of nearly equal layers).
    /// Row values are summed in row order in `Double`, so the result does not depend on the thread
    /// count or chunk size. Works in the model's `matmulPrecision` and with bf16 weights, as the
    /// forward does. Memory beyond the forward's layer inputs: two (R, V) logit buffers.
    public static func run<T: TensorScalar>(_ model: Transformer<T>, batches: some Collection<TokenBatch>,
                                            progress: (Int, Int) -> Void = { _, _ in }) throws -> LogitLensReport {
        let L = model.config.numHiddenLayers, V = model.config.vocabSize
        let R = max(1, chunkElements / V)
        let final = model.headChunk(rows: R), lens = model.headChunk(rows: R)  // (R, V) each: z_L, z_ℓ
        let finalMax = Buffer<T>(count: R)                                   // (R) max z_L per row
        let finalTop = UnsafeMutablePointer<Int>.allocate(capacity: R)        // (R) the model's argmax
        defer { finalTop.deallocate() }
        let rowValues = Buffer<Double>(count: (L + 1) * R * 3)  // (L+1, R, 3) loss, agreement, KL of each row of the chunk
        func record(_ l: Int, _ m: Int, loss: Double, agrees: Bool, kl: Double) {
            let out = rowValues.pointer + 3 * (l * R + m)
            (out[0], out[1], out[2]) = (loss, agrees ? 1 : 0, kl)
        }
        var sums = Array(repeating: (loss: 0.0, agreeing: 0, kl: 0.0), count: L + 1)
        var tokens = 0
        for (i, batch) in batches.enumerated() {
            let rows = (0..<batch.tokens.count).filter { batch.targets[$0] != CrossEntropy.ignoreIndex }
            for n in rows where !(0..<Int32(V)).contains(batch.targets[n]) {
                throw ModelError.tokenOutOfRange(token: Int(batch.targets[n]), vocabSize: V)
            }
            let ignored = Array(repeating: CrossEntropy.ignoreIndex, count: batch.tokens.count)
            try model.forward(tokens: batch.tokens, targets: ignored, batch: batch.batchSize, seqLen: batch.seqLen,
                              retaining: .layerInputs)
            for start in stride(from: 0, to: rows.count, by: R) {
                let part = rows[start..<min(rows.count, start + R)], M = part.count
                let target = { (m: Int) in Int(batch.targets[part[part.startIndex + m]]) }
                // ℓ = L: the model's own logits, kept in `final` for the chunk.
                model.headLogits(of: model.layerInput(L), rows: part, into: final)
                Parallel.forEachChunk(M, minimumPerThread: 4) { range in
                    for m in range {
                        let z = final.logits.pointer + m * V, top = VectorMath.max(z, V)
                        (finalMax.pointer[m], finalTop[m]) = (top, argmax(z, top, V))
                        let scratch = lens.logits.pointer + m * V
                        let logSumExp = Double(top) + log(VectorMath.expShifted(z, minus: top, into: scratch, V))
                        record(L, m, loss: logSumExp - Double(z[target(m)]), agrees: true, kl: 0)
                    }
                }
                for l in 0..<L {
                    model.headLogits(of: model.layerInput(l), rows: part, into: lens)
                    Parallel.forEachChunk(M, minimumPerThread: 4) { range in
                        for m in range {
                            let zL = final.logits.pointer + m * V, z = lens.logits.pointer + m * V, top = VectorMath.max(z, V)
                            let agrees = argmax(z, top, V) == finalTop[m], targetLogit = Double(z[target(m)])
                            let kl = VectorMath.softmaxDivergence(zL, z, aMax: finalMax.pointer[m], bMax: top, V)
                            let logSumExp = Double(top) + log(VectorMath.expShifted(z, minus: top, into: z, V))
                            record(l, m, loss: logSumExp - targetLogit, agrees: agrees, kl: kl)
                        }
                    }
                }
                for l in 0...L {
                    for m in 0..<M {
                        let v = rowValues.pointer + 3 * (l * R + m)
                        sums[l].loss += v[0]
                        sums[l].agreeing += Int(v[1])
                        sums[l].kl += v[2]
                    }
                }
            }
            tokens += rows.count
            progress(i + 1, batches.count)
        }
        guard tokens > 0 else { throw AnalysisError.noTokens }
        let n = Double(tokens)
        return LogitLensReport(tokens: tokens, layers: sums.enumerated().map { l, s in
            .init(layer: l, loss: s.loss / n, top1Agreement: Double(s.agreeing) / n, klToFinal: s.kl / n)
        })
    }

    /// The first index of the largest of the V values of `z` (`top`, their maximum), as `torch.argmax` breaks ties.
    static func argmax<T: TensorScalar>(_ z: UnsafePointer<T>, _ top: T, _ V: Int) -> Int {
        (0..<V).first { z[$0] == top } ?? 0
    }
}
