import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// Angular distance between the inputs of decoder layers ℓ and ℓ+n, as the Mix-LN paper measures
/// how alike deep layers' representations are.
public struct AngularDistanceReport: Codable, Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        /// ℓ, 0-based: the input of decoder layer ℓ.
        public var layer: Int
        /// n ≥ 1: compared with the input of layer ℓ+n (ℓ+n = L is the last layer's output, before the final norm).
        public var n: Int
        /// Mean over tokens of arccos(cos(x_ℓ, x_{ℓ+n}))/π, in [0, 1].
        public var distance: Double
    }

    /// Token positions averaged over.
    public var tokens: Int
    public var distances: [Entry]

    /// The distance for (ℓ, n).
    public func distance(layer: Int, n: Int) -> Double? { distances.first { $0.layer == layer && $0.n == n }?.distance }
}

public enum AngularDistance {
    /// arccos(cos(x, y))/π for two vectors. A zero vector has cosine 0 with anything (distance ½),
    /// as PyTorch's `cosine_similarity` — which the paper's code uses — computes it.
    ///
    /// Computed in `Double` as 2·asin(‖x̂ − ŷ‖/2) from the unit vectors, not as acos of a cosine:
    /// near cos = 1, where deep Pre-LN layers sit, acos turns a rounding error ε of the cosine into
    /// an angle error √(2ε), while the chord keeps full relative precision.
    public static func between<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, count: Int) -> Double {
        let xx = VectorMath.dotInDouble(x, x, count), yy = VectorMath.dotInDouble(y, y, count)
        guard xx > 0, yy > 0 else { return 0.5 }
        let chordSquared = VectorMath.scaledDifferenceSquaredInDouble(x, 1 / xx.squareRoot(), y, 1 / yy.squareRoot(), count)
        return 2 * asin(min(1, chordSquared.squareRoot() / 2)) / Double.pi
    }

    /// The full (ℓ, n) table over every real token of `batches`, or only each sequence's last real
    /// token with `lastTokenOnly` (as the paper's released code does). Forward only, keeping the
    /// layer inputs and nothing else; the LM head is not run (no target counts).
    public static func run(_ model: Transformer<Float>, batches: some Collection<TokenBatch>, lastTokenOnly: Bool = false,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> AngularDistanceReport {
        let L = model.config.numHiddenLayers, C = model.config.hiddenSize
        var sums = Array(repeating: Array(repeating: 0.0, count: L + 1), count: L)  // [ℓ][n]
        var tokens = 0
        for (i, batch) in batches.enumerated() {
            let ignored = Array(repeating: CrossEntropy.ignoreIndex, count: batch.tokens.count)
            try model.forward(tokens: batch.tokens, targets: ignored, batch: batch.batchSize, seqLen: batch.seqLen,
                              retaining: .layerInputs)
            let lengths = batch.realLengths(ignoreIndex: CrossEntropy.ignoreIndex)
            for b in 0..<batch.batchSize {
                let positions = lastTokenOnly ? [lengths[b] - 1] : Array(0..<lengths[b])
                for t in positions {
                    let row = (b * batch.seqLen + t) * C
                    for l in 0..<L {
                        let x = UnsafePointer(model.layerInput(l) + row)
                        for n in 1...(L - l) {
                            sums[l][n] += between(x, UnsafePointer(model.layerInput(l + n) + row), count: C)
                        }
                    }
                    tokens += 1
                }
            }
            progress(i + 1, batches.count)
        }
        guard tokens > 0 else { throw AnalysisError.noTokens }
        var entries: [AngularDistanceReport.Entry] = []
        for l in 0..<L {
            for n in 1...(L - l) { entries.append(.init(layer: l, n: n, distance: sums[l][n] / Double(tokens))) }
        }
        return AngularDistanceReport(tokens: tokens, distances: entries)
    }
}
