import Foundation
import MixLNTensor

// Dimensions: B batch, T positions, H heads, D head size.

/// Rotary position embedding with the half-split (`rotate_half`) convention of LLaMA in Hugging Face:
/// for i < D/2, `(x_i, x_{i+D/2})` is rotated by the angle `t · f_i`, with `f_i = base^(−2i/D)` unless
/// the config rescales it (`ModelConfig.ropeInverseFrequencies`).
public struct Rope<T: TensorScalar> {
    public let headDim: Int
    public let maxPositions: Int
    let cosTable: Buffer<T> // (maxPositions, D/2)
    let sinTable: Buffer<T> // (maxPositions, D/2)

    /// - Parameter inverseFrequencies: (D/2) `f_i`; the angles are computed in Double, then rounded to `T`.
    public init(headDim: Int, maxPositions: Int, inverseFrequencies: [Double]) {
        precondition(inverseFrequencies.count == headDim / 2, "RoPE needs one inverse frequency per rotation pair")
        self.headDim = headDim
        self.maxPositions = maxPositions
        let half = headDim / 2
        cosTable = Buffer(count: maxPositions * half)
        sinTable = Buffer(count: maxPositions * half)
        for t in 0..<maxPositions {
            for i in 0..<half {
                let angle = Double(t) * inverseFrequencies[i]
                cosTable[t * half + i] = T(cos(angle))
                sinTable[t * half + i] = T(sin(angle))
            }
        }
    }

    /// Plain RoPE with base `base`.
    public init(headDim: Int, maxPositions: Int, base: Double) {
        self.init(headDim: headDim, maxPositions: maxPositions,
                  inverseFrequencies: RopeScaling.unscaledInverseFrequencies(headDim: headDim, theta: base))
    }

    /// Rotates, in place, `heads` consecutive head vectors of every token in a buffer whose rows are
    /// `rowStride` apart (e.g. the q or k part of a fused qkv buffer).
    /// - Parameter x: (B, T, rowStride) with the H·D values starting at `x`
    public func forward(_ x: UnsafeMutablePointer<T>, batch: Int, seqLen: Int, heads: Int, rowStride: Int) {
        rotate(x, batch: batch, seqLen: seqLen, heads: heads, rowStride: rowStride, inverse: false)
    }

    /// The backward of a rotation is the inverse rotation of the gradient, in place.
    /// - Parameter dx: same layout as `forward`'s `x`
    public func backward(_ dx: UnsafeMutablePointer<T>, batch: Int, seqLen: Int, heads: Int, rowStride: Int) {
        rotate(dx, batch: batch, seqLen: seqLen, heads: heads, rowStride: rowStride, inverse: true)
    }

    /// Rotates, in place, the `heads` head vectors of one token at `position` (incremental decoding).
    /// - Parameter x: (H·D) values
    public func forward(_ x: UnsafeMutablePointer<T>, position: Int, heads: Int) {
        let half = headDim / 2
        T.rotateHalves(x, heads: heads, headStride: headDim, half: half,
                       cos: cosTable.pointer + position * half, sin: sinTable.pointer + position * half, sign: 1)
    }

    private func rotate(_ x: UnsafeMutablePointer<T>, batch: Int, seqLen: Int, heads: Int, rowStride: Int, inverse: Bool) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .rope(backward: inverse)) }
        let half = headDim / 2
        let cosT = cosTable.pointer, sinT = sinTable.pointer
        Parallel.forEachChunk(batch * seqLen, minimumPerThread: 64) { range in
            for row in range {
                let t = row % seqLen
                T.rotateHalves(x + row * rowStride, heads: heads, headStride: headDim, half: half,
                               cos: cosT + t * half, sin: sinT + t * half, sign: inverse ? -1 : 1)
            }
        }
    }
}
