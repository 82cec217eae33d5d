import MixLNTensor

// Dimensions: B batch, T tokens, H query heads, G key/value heads (H a multiple of G), D head size,
// C = H·D, K = G·D, W = C + 2K the width of a fused qkv row, Q = `blockSize` the rows of a block,
// E the keys a query block reads (the end of its rows).

/// Causal multi-head self-attention on a fused qkv buffer, scores scaled by 1/√D. With G < H
/// key/value heads (grouped-query attention) query head h reads key/value head h / (H/G).
///
/// The T positions are split into blocks of Q (`AttentionBlocks`). Query block i, rows r₀..<E,
/// reads keys 0..<E only, so every product covers the blocks on and below the diagonal: the score
/// blocks above it are neither computed nor written, and the masked entries computed are the
/// upper triangles of the diagonal blocks (about T·Q/2 of T² per head). The forward and the
/// backward's query pass run one `Parallel` work item per (batch, head, query block); the
/// backward's key pass one per (batch, key/value head, key block), adding the heads that share it
/// in head order. Each item's GEMMs run on its worker alone (`GemmThreading.callingThread`): they
/// are too small to split further, and an item's shapes do not depend on the thread count, so the
/// results are bitwise the same for any number of workers.
///
/// The GEMMs run in the precision of their operands (`GemmOperand`): in bf16, `qkv` and `dOut` come
/// as bf16 copies, and each item rounds its rows of the probabilities and of their gradient into the
/// given copies once, after the fp32 softmax (and its backward) that produce them.
public enum CausalAttention {
    /// Q: the rows of a query block (and of a key block in the backward's key pass). 64 keeps a
    /// block's products large enough for the GEMM kernels while the masked entries they compute on
    /// the diagonal stay small (at T = 256, 1.25× the T(T+1)/2 needed ones instead of 2× for full rows).
    public static let blockSize = 64

    /// - Parameters:
    ///   - out: (B, T, C) attention output before the output projection
    ///   - probs: (B, H, T, T) softmax probabilities, saved for backward. Written on the blocks on and
    ///     below the diagonal, with zeros above the diagonal inside the diagonal blocks; the blocks
    ///     above the diagonal are never written or read.
    ///   - qkv: (B, T, W) with q, k, v in column blocks, RoPE already applied to q and k
    ///   - probsCopy: (B, H, T, T) bf16 copy of `probs` for the products (the same blocks), or nil (fp32)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, probs: UnsafeMutablePointer<T>, qkv: GemmOperand<T>, probsCopy: BFloat16Buffer?,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        let blocks = AttentionBlocks(seqLen: seqLen, size: blockSize)
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .attention(backward: false), flops: 4 * Double(batch * heads * headDim * blocks.computedEntries)) }
        let G = kvHeads ?? heads, C = heads * headDim, K = G * headDim, W = C + 2 * K, T_ = seqLen, D = headDim
        let group = heads / G
        let scale = 1 / T(headDim).squareRoot()
        let copy = pointer(of: probsCopy, holding: batch * heads * T_ * T_)
        Parallel.forEachChunk(batch * heads * blocks.count) { items in
            for item in items {
                let (pair, block) = item.quotientAndRemainder(dividingBy: blocks.count)  // pair = b·H + h
                let b = pair / heads, h = pair % heads, kv = h / group
                let rows = blocks.rows(block), r0 = rows.lowerBound, E = rows.upperBound
                let base = b * T_ * W
                let q = qkv.advanced(by: base + r0 * W + h * D), k = qkv.advanced(by: base + C + kv * D)
                let v = qkv.advanced(by: base + C + K + kv * D)
                let panel = pair * T_ * T_ + r0 * T_
                let att = probs + panel  // (Q, T) rows r0..<E of this head's probabilities; columns 0..<E used
                // S = scale · Q_i · K[0..<E]ᵀ, then the softmax of each row t over keys 0...t
                T.gemm(transposeA: false, transposeB: true, m: rows.count, n: E, k: D,
                       alpha: scale, a: q, lda: W, b: k, ldb: W, beta: 0, c: att, ldc: T_, threading: .callingThread)
                for (i, t) in rows.enumerated() {
                    let p = att + i * T_
                    _ = VectorMath.softmax(p, t + 1)
                    (p + t + 1).update(repeating: 0, count: E - t - 1)
                }
                // O_i = P_i · V[0..<E]
                let p = operand(att, rows: rows.count, columns: E, stride: T_, roundingInto: copy.map { $0 + panel })
                T.gemm(transposeA: false, transposeB: false, m: rows.count, n: D, k: E,
                       alpha: 1, a: p, lda: T_, b: v, ldb: W,
                       beta: 0, c: out + (b * T_ + r0) * C + h * D, ldc: C, threading: .callingThread)
            }
        }
    }

    /// Writes `dqkv` (B, T, W) from `dOut` (B, T, C), using `dProbs` (B, H, T, T) as scratch (the same
    /// blocks as `probs`). Query heads sharing a key/value head add their gradients into it.
    /// - Parameters:
    ///   - qkv: (B, T, W) the forward's operand; probs: (B, H, T, T) its fp32 probabilities and
    ///     probsOperand the operand its products read (`probs`, or the bf16 copy it saved)
    ///   - dProbsCopy: (B, H, T, T) where the gradient of the scores is rounded for its products, or nil (fp32)
    public static func backward<T: TensorScalar>(
        dqkv: UnsafeMutablePointer<T>, dProbs: UnsafeMutablePointer<T>, dOut: GemmOperand<T>,
        qkv: GemmOperand<T>, probs: UnsafePointer<T>, probsOperand: GemmOperand<T>, dProbsCopy: BFloat16Buffer?,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        let blocks = AttentionBlocks(seqLen: seqLen, size: blockSize)
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .attention(backward: true), flops: 8 * Double(batch * heads * headDim * blocks.computedEntries)) }
        let G = kvHeads ?? heads, C = heads * headDim, K = G * headDim, W = C + 2 * K, T_ = seqLen, D = headDim
        let group = heads / G
        let scale = 1 / T(headDim).squareRoot()
        let copy = pointer(of: dProbsCopy, holding: batch * heads * T_ * T_)
        // Query pass, per (b, h, query block i): dP_i = dO_i · V[0..<E]ᵀ, dS_i = softmax backward,
        // dQ_i = scale · dS_i · K[0..<E].
        Parallel.forEachChunk(batch * heads * blocks.count) { items in
            for item in items {
                let (pair, block) = item.quotientAndRemainder(dividingBy: blocks.count)  // pair = b·H + h
                let b = pair / heads, h = pair % heads, kv = h / group
                let rows = blocks.rows(block), r0 = rows.lowerBound, E = rows.upperBound
                let base = b * T_ * W
                let k = qkv.advanced(by: base + C + kv * D), v = qkv.advanced(by: base + C + K + kv * D)
                let panel = pair * T_ * T_ + r0 * T_
                let dp = dProbs + panel  // (Q, T) rows r0..<E, columns 0..<E used
                T.gemm(transposeA: false, transposeB: true, m: rows.count, n: E, k: D,
                       alpha: 1, a: dOut.advanced(by: (b * T_ + r0) * C + h * D), lda: C, b: v, ldb: W,
                       beta: 0, c: dp, ldc: T_, threading: .callingThread)
                // dS = P ⊙ (dP − Σ P⊙dP) per row, zero above the diagonal
                for (i, t) in rows.enumerated() {
                    let p = probs + panel + i * T_, d = dp + i * T_
                    let inner = VectorMath.dot(p, UnsafePointer(d), t + 1)
                    for j in 0...t { d[j] = p[j] * (d[j] - inner) }
                    (d + t + 1).update(repeating: 0, count: E - t - 1)
                }
                let dS = operand(dp, rows: rows.count, columns: E, stride: T_, roundingInto: copy.map { $0 + panel })
                T.gemm(transposeA: false, transposeB: false, m: rows.count, n: D, k: E,
                       alpha: scale, a: dS, lda: T_, b: k, ldb: W,
                       beta: 0, c: dqkv + base + r0 * W + h * D, ldc: W, threading: .callingThread)
            }
        }
        // Key pass, per (b, g, key block j), over the queries k0..<T that read it and the heads of g in order:
        // dV_j = Σ_h P[k0..<T, j]ᵀ · dO[k0..<T],  dK_j = Σ_h scale · dS[k0..<T, j]ᵀ · Q[k0..<T].
        let dS: GemmOperand<T> = copy.map { .bfloat16(UnsafePointer($0)) } ?? .values(UnsafePointer(dProbs))
        Parallel.forEachChunk(batch * G * blocks.count) { items in
            for item in items {
                let (pair, block) = item.quotientAndRemainder(dividingBy: blocks.count)  // pair = b·G + g
                let b = pair / G, g = pair % G
                let keys = blocks.rows(block), k0 = keys.lowerBound, queries = T_ - k0
                let base = b * T_ * W
                let dk = dqkv + base + k0 * W + C + g * D, dv = dk + K
                for h in g * group ..< (g + 1) * group {
                    let sub = (b * heads + h) * T_ * T_ + k0 * T_ + k0  // (T − k0, Q) with row stride T
                    let beta: T = h == g * group ? 0 : 1
                    T.gemm(transposeA: true, transposeB: false, m: keys.count, n: D, k: queries,
                           alpha: 1, a: probsOperand.advanced(by: sub), lda: T_, b: dOut.advanced(by: (b * T_ + k0) * C + h * D), ldb: C,
                           beta: beta, c: dv, ldc: W, threading: .callingThread)
                    T.gemm(transposeA: true, transposeB: false, m: keys.count, n: D, k: queries,
                           alpha: scale, a: dS.advanced(by: sub), lda: T_, b: qkv.advanced(by: base + k0 * W + h * D), ldb: W,
                           beta: beta, c: dk, ldc: W, threading: .callingThread)
                }
            }
        }
    }

    /// `forward` in fp32.
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, probs: UnsafeMutablePointer<T>, qkv: UnsafePointer<T>,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        forward(out: out, probs: probs, qkv: .values(qkv), probsCopy: nil,
                batch: batch, seqLen: seqLen, heads: heads, kvHeads: kvHeads, headDim: headDim)
    }

    /// `backward` in fp32.
    public static func backward<T: TensorScalar>(
        dqkv: UnsafeMutablePointer<T>, dProbs: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>,
        qkv: UnsafePointer<T>, probs: UnsafePointer<T>,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        backward(dqkv: dqkv, dProbs: dProbs, dOut: .values(dOut), qkv: .values(qkv), probs: probs, probsOperand: .values(probs),
                 dProbsCopy: nil, batch: batch, seqLen: seqLen, heads: heads, kvHeads: kvHeads, headDim: headDim)
    }

    /// The bits of a (B, H, T, T) bf16 copy, read before a parallel loop; nil in fp32.
    private static func pointer(of copy: BFloat16Buffer?, holding count: Int) -> UnsafeMutablePointer<UInt16>? {
        guard let copy else { return nil }
        precondition(copy.count >= count, "a bf16 copy of \(copy.count) values for \(count) attention scores")
        return copy.pointer
    }

    /// A (rows, columns) block with row stride `stride` as the GEMMs read it: `x` itself in fp32, else
    /// rounded into `copy` (the same offsets in the copy) on the calling thread.
    private static func operand<T: TensorScalar>(
        _ x: UnsafeMutablePointer<T>, rows: Int, columns: Int, stride: Int, roundingInto copy: UnsafeMutablePointer<UInt16>?
    ) -> GemmOperand<T> {
        guard let copy else { return .values(x) }
        for r in 0..<rows { T.roundToBFloat16(x + r * stride, into: copy + r * stride, count: columns) }
        return .bfloat16(copy)
    }
}
