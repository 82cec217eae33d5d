import MixLNTensor

// Dimensions: N rows, H query heads, G key/value heads, D head size, C = H·D, K = G·D,
// W = C + 2K the width of a fused qkv row (q, then k, then v), S segments normalized per row.

/// QK-norm: RMSNorm of the queries and keys inside fused qkv rows, in place, before RoPE.
///
/// A row's q and k are cut into segments, each normalized alone: with `QKNorm.head` the H query
/// heads and G key heads (S = H + G segments of D, one (D) weight for q and one for k), with
/// `QKNorm.full` q's C channels and k's K channels (S = 2, weights (C) and (K)). v is untouched.
public enum QueryKeyNorm {
    /// The segments of one row: `count` pieces of `width` channels from `offset`, for q then k.
    struct Segments {
        let queryCount: Int, queryWidth: Int
        let keyCount: Int, keyWidth: Int
        let keyOffset: Int  // C: where k starts in a qkv row
        var count: Int { queryCount + keyCount }

        init(_ mode: QKNorm, heads H: Int, kvHeads G: Int, headDim D: Int) {
            precondition(mode != .none, "QK-norm segments need a mode")
            if mode == .head {
                (queryCount, queryWidth, keyCount, keyWidth) = (H, D, G, D)
            } else {
                (queryCount, queryWidth, keyCount, keyWidth) = (1, H * D, 1, G * D)
            }
            keyOffset = H * D
        }

        /// (offset in the qkv row, width, whether it is a key segment) of segment `j`.
        func segment(_ j: Int) -> (offset: Int, width: Int, isKey: Bool) {
            j < queryCount ? (j * queryWidth, queryWidth, false) : (keyOffset + (j - queryCount) * keyWidth, keyWidth, true)
        }
    }

    /// Most `rstd` values a row needs, whichever the mode: H + G.
    public static func rstdPerRow(heads H: Int, kvHeads G: Int) -> Int { H + G }

    /// Normalizes q and k of every row in place, saving their values before the norm and each segment's 1/rms.
    /// - Parameters: qkv (N, W) in place, raw (N, C + K) q|k before the norm, rstd (N, H + G),
    ///   queryWeight (D) or (C), keyWeight (D) or (K)
    public static func forward<T: TensorScalar>(
        qkv: UnsafeMutablePointer<T>, raw: UnsafeMutablePointer<T>, rstd: UnsafeMutablePointer<T>,
        queryWeight: UnsafePointer<T>, keyWeight: UnsafePointer<T>, mode: QKNorm,
        rows N: Int, heads H: Int, kvHeads G: Int, headDim D: Int, eps: T
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .norm(backward: false)) }
        let segments = Segments(mode, heads: H, kvHeads: G, headDim: D)
        let W = (H + 2 * G) * D, R = (H + G) * D, S = rstdPerRow(heads: H, kvHeads: G)
        Parallel.forEachChunk(N, minimumPerThread: 16) { range in
            for n in range {
                for j in 0..<segments.count {
                    let (offset, width, isKey) = segments.segment(j)
                    let x = qkv + n * W + offset, saved = raw + n * R + offset
                    let weight = isKey ? keyWeight : queryWeight
                    saved.update(from: x, count: width)
                    let r = 1 / (VectorMath.dot(saved, saved, width) / T(width) + eps).squareRoot()
                    rstd[n * S + j] = r
                    for c in 0..<width { x[c] = saved[c] * r * weight[c] }
                }
            }
        }
    }

    /// Turns the gradient of the normalized q and k into that of the raw ones, in place, and
    /// accumulates the weights' gradients.
    ///
    /// Per segment, with `g = w⊙dy`: `dx = r·(g − x·r²·Σ(g⊙x)/d)`, `dw = Σₙ dy⊙x·r`.
    /// - Parameters: dqkv (N, W) in place (q and k parts), dQueryWeight, dKeyWeight as the weights,
    ///   raw (N, C + K) and rstd (N, H + G) from `forward`
    public static func backward<T: TensorScalar>(
        dqkv: UnsafeMutablePointer<T>, dQueryWeight: UnsafeMutablePointer<T>, dKeyWeight: UnsafeMutablePointer<T>,
        raw: UnsafePointer<T>, rstd: UnsafePointer<T>, queryWeight: UnsafePointer<T>, keyWeight: UnsafePointer<T>,
        mode: QKNorm, rows N: Int, heads H: Int, kvHeads G: Int, headDim D: Int
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .norm(backward: true)) }
        let segments = Segments(mode, heads: H, kvHeads: G, headDim: D)
        let W = (H + 2 * G) * D, R = (H + G) * D, S = rstdPerRow(heads: H, kvHeads: G)
        let weightCount = segments.queryWidth + segments.keyWidth
        // Weight gradients are reduced per worker, then summed in worker order (deterministic for a thread count).
        let workers = Parallel.workerCount(N, minimumPerThread: 16)
        let partial = UnsafeMutablePointer<T>.allocate(capacity: workers * weightCount)  // (workers, q width + k width)
        partial.initialize(repeating: 0, count: workers * weightCount)
        defer { partial.deallocate() }
        Parallel.forEachWorker(N, workers: workers) { w, range in
            for n in range {
                for j in 0..<segments.count {
                    let (offset, width, isKey) = segments.segment(j)
                    let x = raw + n * R + offset, d = dqkv + n * W + offset
                    let weight = isKey ? keyWeight : queryWeight
                    let dw = partial + w * weightCount + (isKey ? segments.queryWidth : 0)
                    let r = rstd[n * S + j]
                    var gx: T = 0
                    for c in 0..<width {
                        gx += weight[c] * d[c] * x[c]
                        dw[c] += d[c] * x[c] * r
                    }
                    let k = r * r * r * gx / T(width)
                    for c in 0..<width { d[c] = r * weight[c] * d[c] - k * x[c] }
                }
            }
        }
        for w in 0..<workers {
            VectorMath.axpy(1, partial + w * weightCount, dQueryWeight, segments.queryWidth)
            VectorMath.axpy(1, partial + w * weightCount + segments.queryWidth, dKeyWeight, segments.keyWidth)
        }
    }
}
