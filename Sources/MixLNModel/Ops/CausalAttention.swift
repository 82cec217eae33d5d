import MixLNTensor

// Dimensions: B batch, T tokens, H query heads, G key/value heads (H a multiple of G), D head size,
// C = H·D, K = G·D, W = C + 2K the width of a fused qkv row, Q = `blockSize` the rows of a query
// block, E the keys a query block reads (the end of its rows).

/// Causal multi-head self-attention on a fused qkv buffer, scores scaled by 1/√D. With G < H
/// key/value heads (grouped-query attention) query head h reads key/value head h / (H/G).
///
/// Blocked and flash-style. The T positions are split into query blocks of Q (`AttentionBlocks`);
/// block i, rows r₀..<E, reads keys 0..<E only, so no product touches the score blocks above the
/// diagonal (the masked entries computed are the upper triangles of the diagonal blocks, about
/// T·Q/2 of T² per head). A block's scores and probabilities live in a (Q, E) panel of its
/// worker's scratch and nowhere else: the forward keeps only each row's log-sum-exp (B, H, T), and
/// the backward recomputes the panel from it, P = exp(S − lse), instead of reading a saved
/// (B, H, T, T) matrix. That costs one more GEMM per panel in the backward (five instead of four)
/// and saves the reads and writes of those matrices; measured on 2 Zen 4 cores at T = 256 the two
/// take the same time, and the memory goes from O(T²) to O(T) per head.
///
/// Parallel work items: the forward runs one per (batch, head, query block); the backward one per
/// (batch, key/value head), which owns the gradients of its keys and values and adds every panel
/// of its query heads into them in a fixed order. Every GEMM of an item runs on its worker alone
/// (`GemmThreading.callingThread`): the products are too small to split further, and an item's
/// shapes do not depend on the thread count, so the results are bitwise the same for any number of
/// workers.
///
/// Precision follows the operands (`GemmOperand`): with bf16 `qkv` (and `dOut`), each panel's
/// probabilities and score gradient are rounded to bf16 once, after the fp32 softmax (and its
/// backward) that produce them, for the products that read them.
public enum CausalAttention {
    /// Q: the rows of a query block. 64 keeps a block's products large enough for the GEMM kernels
    /// while the masked entries they compute stay few (at T = 256, 1.25× the T(T+1)/2 needed ones
    /// instead of 2× for whole rows).
    public static let blockSize = 64

    /// - Parameters:
    ///   - out: (B, T, C) attention output before the output projection
    ///   - logSumExp: (B, H, T) log Σ_{s≤t} exp(score(t, s)) of each row, saved for backward
    ///   - qkv: (B, T, W) with q, k, v in column blocks, RoPE already applied to q and k; in bf16 the
    ///     products run in bf16
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, logSumExp: UnsafeMutablePointer<T>, qkv: GemmOperand<T>,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        let blocks = AttentionBlocks(seqLen: seqLen, size: blockSize)
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .attention(backward: false), flops: 4 * Double(batch * heads * headDim * blocks.computedEntries)) }
        let G = kvHeads ?? heads, C = heads * headDim, K = G * headDim, W = C + 2 * K, T_ = seqLen, D = headDim
        let group = heads / G
        let scale = 1 / T(headDim).squareRoot()
        let items = batch * heads * blocks.count
        let workers = Parallel.workerCount(items)
        withPanels(workers: workers, perWorker: 1, blocks: blocks, bf16: qkv.isBFloat16) { (panels: UnsafeMutablePointer<T>, copies) in
            Parallel.forEachWorker(items, workers: workers) { w, range in
                let att = panels + w * blocks.panelSize  // (Q, E) scores, then probabilities
                let attCopy = copies.map { $0 + w * blocks.panelSize }
                for item in range {
                    let (pair, block) = item.quotientAndRemainder(dividingBy: blocks.count)  // pair = b·H + h
                    let b = pair / heads, h = pair % heads, kv = h / group
                    let rows = blocks.rows(block), r0 = rows.lowerBound, E = rows.upperBound
                    let base = b * T_ * W
                    let q = qkv.advanced(by: base + r0 * W + h * D), k = qkv.advanced(by: base + C + kv * D)
                    let v = qkv.advanced(by: base + C + K + kv * D)
                    // S = scale · Q_i · K[0..<E]ᵀ, then the softmax of each row t over keys 0...t
                    T.gemm(transposeA: false, transposeB: true, m: rows.count, n: E, k: D,
                           alpha: scale, a: q, lda: W, b: k, ldb: W, beta: 0, c: att, ldc: E, threading: .callingThread)
                    for (i, t) in rows.enumerated() {
                        let p = att + i * E
                        logSumExp[pair * T_ + t] = VectorMath.softmax(p, t + 1)
                        (p + t + 1).update(repeating: 0, count: E - t - 1)
                    }
                    // O_i = P_i · V[0..<E]
                    T.gemm(transposeA: false, transposeB: false, m: rows.count, n: D, k: E,
                           alpha: 1, a: operand(att, count: rows.count * E, roundingInto: attCopy), lda: E, b: v, ldb: W,
                           beta: 0, c: out + (b * T_ + r0) * C + h * D, ldc: C, threading: .callingThread)
                }
            }
        }
    }

    /// Writes `dqkv` (B, T, W) from `dOut` (B, T, C). Query heads sharing a key/value head add
    /// their gradients into it.
    /// - Parameters:
    ///   - qkv: (B, T, W) the forward's operand; logSumExp: (B, H, T) what the forward saved
    ///   - dOut: in bf16 when `qkv` is
    public static func backward<T: TensorScalar>(
        dqkv: UnsafeMutablePointer<T>, dOut: GemmOperand<T>, qkv: GemmOperand<T>, logSumExp: UnsafePointer<T>,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        precondition(dOut.isBFloat16 == qkv.isBFloat16, "attention's backward: dOut and qkv in different precisions")
        let blocks = AttentionBlocks(seqLen: seqLen, size: blockSize)
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .attention(backward: true), flops: 10 * Double(batch * heads * headDim * blocks.computedEntries)) }
        let G = kvHeads ?? heads, C = heads * headDim, K = G * headDim, W = C + 2 * K, T_ = seqLen, D = headDim
        let group = heads / G
        let scale = 1 / T(headDim).squareRoot()
        let items = batch * G
        let workers = Parallel.workerCount(items)
        withPanels(workers: workers, perWorker: 2, blocks: blocks, bf16: qkv.isBFloat16) { (panels: UnsafeMutablePointer<T>, copies) in
            Parallel.forEachWorker(items, workers: workers) { w, range in
                let p = panels + 2 * w * blocks.panelSize, dp = p + blocks.panelSize  // (Q, E) P and dP → dS
                let pCopy = copies.map { $0 + 2 * w * blocks.panelSize }, dsCopy = pCopy.map { $0 + blocks.panelSize }
                for item in range {
                    let b = item / G, g = item % G
                    let base = b * T_ * W
                    let k = qkv.advanced(by: base + C + g * D), v = qkv.advanced(by: base + C + K + g * D)
                    let dk = dqkv + base + C + g * D, dv = dk + K
                    for t in 0..<T_ {
                        (dk + t * W).update(repeating: 0, count: D)
                        (dv + t * W).update(repeating: 0, count: D)
                    }
                    for h in g * group ..< (g + 1) * group {
                        for block in 0..<blocks.count {
                            let rows = blocks.rows(block), r0 = rows.lowerBound, E = rows.upperBound
                            let q = qkv.advanced(by: base + r0 * W + h * D), dO = dOut.advanced(by: (b * T_ + r0) * C + h * D)
                            let lse = logSumExp + (b * heads + h) * T_
                            // P_i = exp(scale · Q_i · K[0..<E]ᵀ − lse), as the forward computed it
                            T.gemm(transposeA: false, transposeB: true, m: rows.count, n: E, k: D,
                                   alpha: scale, a: q, lda: W, b: k, ldb: W, beta: 0, c: p, ldc: E, threading: .callingThread)
                            for (i, t) in rows.enumerated() {
                                let row = p + i * E
                                _ = VectorMath.expShifted(row, minus: lse[t], into: row, t + 1)
                                (row + t + 1).update(repeating: 0, count: E - t - 1)
                            }
                            // dV[0..<E] += P_iᵀ · dO_i
                            T.gemm(transposeA: true, transposeB: false, m: E, n: D, k: rows.count,
                                   alpha: 1, a: operand(p, count: rows.count * E, roundingInto: pCopy), lda: E, b: dO, ldb: C,
                                   beta: 1, c: dv, ldc: W, threading: .callingThread)
                            // dP_i = dO_i · V[0..<E]ᵀ, then dS = P ⊙ (dP − Σ P⊙dP) per row, zero above the diagonal
                            T.gemm(transposeA: false, transposeB: true, m: rows.count, n: E, k: D,
                                   alpha: 1, a: dO, lda: C, b: v, ldb: W, beta: 0, c: dp, ldc: E, threading: .callingThread)
                            for (i, t) in rows.enumerated() {
                                let pRow = p + i * E, d = dp + i * E
                                let inner = VectorMath.dot(UnsafePointer(pRow), UnsafePointer(d), t + 1)
                                for j in 0...t { d[j] = pRow[j] * (d[j] - inner) }
                                (d + t + 1).update(repeating: 0, count: E - t - 1)
                            }
                            // dQ_i = scale · dS_i · K[0..<E] ;  dK[0..<E] += scale · dS_iᵀ · Q_i
                            let dS = operand(dp, count: rows.count * E, roundingInto: dsCopy)
                            T.gemm(transposeA: false, transposeB: false, m: rows.count, n: D, k: E,
                                   alpha: scale, a: dS, lda: E, b: k, ldb: W,
                                   beta: 0, c: dqkv + base + r0 * W + h * D, ldc: W, threading: .callingThread)
                            T.gemm(transposeA: true, transposeB: false, m: E, n: D, k: rows.count,
                                   alpha: scale, a: dS, lda: E, b: q, ldb: W, beta: 1, c: dk, ldc: W, threading: .callingThread)
                        }
                    }
                }
            }
        }
    }

    /// `forward` in fp32.
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, logSumExp: UnsafeMutablePointer<T>, qkv: UnsafePointer<T>,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        forward(out: out, logSumExp: logSumExp, qkv: .values(qkv), batch: batch, seqLen: seqLen, heads: heads, kvHeads: kvHeads, headDim: headDim)
    }

    /// `backward` in fp32.
    public static func backward<T: TensorScalar>(
        dqkv: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, qkv: UnsafePointer<T>, logSumExp: UnsafePointer<T>,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        backward(dqkv: dqkv, dOut: .values(dOut), qkv: .values(qkv), logSumExp: logSumExp,
                 batch: batch, seqLen: seqLen, heads: heads, kvHeads: kvHeads, headDim: headDim)
    }

    /// Calls `body(panels, copies)` with `workers · perWorker` uninitialized (Q, T) panels (worker w's
    /// from `w · perWorker`), and as many bf16 ones when `bf16` (else nil): scratch allocated before a
    /// parallel loop, freed after it.
    private static func withPanels<T: TensorScalar>(
        workers: Int, perWorker: Int, blocks: AttentionBlocks, bf16: Bool,
        _ body: (UnsafeMutablePointer<T>, UnsafeMutablePointer<UInt16>?) -> Void
    ) {
        let count = max(1, workers * perWorker * blocks.panelSize)
        let panels = UnsafeMutablePointer<T>.allocate(capacity: count)              // (workers, perWorker, Q, T)
        let copies = bf16 ? UnsafeMutablePointer<UInt16>.allocate(capacity: count) : nil  // (workers, perWorker, Q, T)
        defer {
            panels.deallocate()
            copies?.deallocate()
        }
        body(panels, copies)
    }

    /// A contiguous panel of `count` values as the GEMMs read it: itself in fp32, else rounded into `copy`.
    private static func operand<T: TensorScalar>(
        _ x: UnsafeMutablePointer<T>, count: Int, roundingInto copy: UnsafeMutablePointer<UInt16>?
    ) -> GemmOperand<T> {
        guard let copy else { return .values(x) }
        T.roundToBFloat16(x, into: copy, count: count)
        return .bfloat16(copy)
    }
}
