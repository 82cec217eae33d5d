import MixLNTensor

// Dimensions: N rows, H query heads, G key/value heads, D head size, C = H·D, K = G·D,
// W = C + 2K the width of a fused qkv row (q, then k, then v), R = C + K (+ K with values) the
// normalized channels of a row, S segments normalized per row.

/// QK-norm: RMSNorm of the queries and keys inside fused qkv rows, in place, before RoPE; with
/// `valueWeight` also of the values (HybridNorm's QKV-norm).
///
/// Each projection is cut into segments, each normalized alone: with `QKNorm.head` its heads (H for
/// q, G for k and v, segments of D, one (D) weight per projection shared by its heads), with
/// `QKNorm.full` the whole projection (weights (C), (K), (K)).
public enum QueryKeyNorm {
    /// The segments of one row: for each normalized projection (q, k, then v), `count` pieces of
    /// `width` channels from `offset` in the row.
    struct Segments {
        struct Part { let offset: Int, count: Int, width: Int }
        let parts: [Part]
        var count: Int { parts.reduce(0) { $0 + $1.count } }
        /// Channels normalized per row (R).
        var channels: Int { parts.reduce(0) { $0 + $1.count * $1.width } }

        init(_ mode: QKNorm, values: Bool, heads H: Int, kvHeads G: Int, headDim D: Int) {
            precondition(mode != .none, "QK-norm segments need a mode")
            let C = H * D, K = G * D
            let shapes = mode == .head ? [(H, D), (G, D), (G, D)] : [(1, C), (1, K), (1, K)]
            let offsets = [0, C, C + K]
            parts = (0..<(values ? 3 : 2)).map { Part(offset: offsets[$0], count: shapes[$0].0, width: shapes[$0].1) }
        }

        /// (offset in the row, width, projection index 0 q / 1 k / 2 v) of every segment, in row order.
        var all: [(offset: Int, width: Int, part: Int)] {
            parts.enumerated().flatMap { p, part in (0..<part.count).map { (part.offset + $0 * part.width, part.width, p) } }
        }
    }

    /// Most `rstd` values a row needs, whichever the mode: H + 2G.
    public static func rstdPerRow(heads H: Int, kvHeads G: Int) -> Int { H + 2 * G }

    /// Normalizes q and k (and v with `valueWeight`) of every row in place, saving their values before
    /// the norm and each segment's 1/rms.
    /// - Parameters: qkv (N, W) in place, raw (N, R) the normalized channels before the norm,
    ///   rstd (N, H + 2G), queryWeight (D) or (C), keyWeight and valueWeight (D) or (K)
    public static func forward<T: TensorScalar>(
        qkv: UnsafeMutablePointer<T>, raw: UnsafeMutablePointer<T>, rstd: UnsafeMutablePointer<T>,
        queryWeight: UnsafePointer<T>, keyWeight: UnsafePointer<T>, valueWeight: UnsafePointer<T>? = nil, mode: QKNorm,
        rows N: Int, heads H: Int, kvHeads G: Int, headDim D: Int, eps: T
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .norm(backward: false)) }
        let segments = Segments(mode, values: valueWeight != nil, heads: H, kvHeads: G, headDim: D).all
        let weights = [queryWeight, keyWeight] + (valueWeight.map { [$0] } ?? [])
        let W = (H + 2 * G) * D, R = (H + 2 * G) * D, S = rstdPerRow(heads: H, kvHeads: G)
        Parallel.forEachChunk(N, minimumPerThread: 16) { range in
            for n in range {
                for (j, segment) in segments.enumerated() {
                    let x = qkv + n * W + segment.offset, saved = raw + n * R + segment.offset
                    let weight = weights[segment.part]
                    saved.update(from: x, count: segment.width)
                    let r = 1 / (VectorMath.dot(saved, saved, segment.width) / T(segment.width) + eps).squareRoot()
                    rstd[n * S + j] = r
                    for c in 0..<segment.width { x[c] = saved[c] * r * weight[c] }
                }
            }
        }
    }

    /// Turns the gradient of the normalized q, k (and v) into that of the raw ones, in place, and
    /// accumulates the weights' gradients.
    ///
    /// Per segment, with `g = w⊙dy`: `dx = r·(g − x·r²·Σ(g⊙x)/d)`, `dw = Σₙ dy⊙x·r`.
    /// - Parameters: dqkv (N, W) in place (the normalized parts), dQueryWeight, dKeyWeight, dValueWeight
    ///   as the weights, raw (N, R) and rstd (N, H + 2G) from `forward`
    public static func backward<T: TensorScalar>(
        dqkv: UnsafeMutablePointer<T>, dQueryWeight: UnsafeMutablePointer<T>, dKeyWeight: UnsafeMutablePointer<T>,
        dValueWeight: UnsafeMutablePointer<T>? = nil,
        raw: UnsafePointer<T>, rstd: UnsafePointer<T>, queryWeight: UnsafePointer<T>, keyWeight: UnsafePointer<T>,
        valueWeight: UnsafePointer<T>? = nil, mode: QKNorm, rows N: Int, heads H: Int, kvHeads G: Int, headDim D: Int
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .norm(backward: true)) }
        precondition((valueWeight == nil) == (dValueWeight == nil), "a value norm needs its weight and its gradient")
        let layout = Segments(mode, values: valueWeight != nil, heads: H, kvHeads: G, headDim: D)
        let segments = layout.all
        let weights = [queryWeight, keyWeight] + (valueWeight.map { [$0] } ?? [])
        let dWeights = [dQueryWeight, dKeyWeight] + (dValueWeight.map { [$0] } ?? [])
        let weightOffsets = layout.parts.indices.map { p in layout.parts[..<p].reduce(0) { $0 + $1.width } }
        let W = (H + 2 * G) * D, R = (H + 2 * G) * D, S = rstdPerRow(heads: H, kvHeads: G)
        let weightCount = layout.parts.reduce(0) { $0 + $1.width }
        // Weight gradients (q's, k's, v's side by side) are reduced per worker, then summed in worker order.
        Parallel.reduceByWorker(N, minimumPerThread: 16, width: weightCount, { (range, partial: UnsafeMutablePointer<T>) in
            for n in range {
                for (j, segment) in segments.enumerated() {
                    let x = raw + n * R + segment.offset, d = dqkv + n * W + segment.offset
                    let weight = weights[segment.part], dw = partial + weightOffsets[segment.part]
                    let r = rstd[n * S + j]
                    var gx: T = 0
                    for c in 0..<segment.width {
                        gx += weight[c] * d[c] * x[c]
                        dw[c] += d[c] * x[c] * r
                    }
                    let k = r * r * r * gx / T(segment.width)
                    for c in 0..<segment.width { d[c] = r * weight[c] * d[c] - k * x[c] }
                }
            }
        }, combine: { (partial: UnsafePointer<T>) in
            for (p, part) in layout.parts.enumerated() { VectorMath.axpy(1, partial + weightOffsets[p], dWeights[p], part.width) }
        })
    }
}
