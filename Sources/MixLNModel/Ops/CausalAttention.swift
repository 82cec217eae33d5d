import MixLNTensor

// Dimensions: B batch, T tokens, H query heads, G key/value heads (H a multiple of G), D head size,
// C = H·D, K = G·D, W = C + 2K the width of a fused qkv row.

/// Causal multi-head self-attention on a fused qkv buffer, scores scaled by 1/√D. With G < H
/// key/value heads (grouped-query attention) query head h reads key/value head h / (H/G).
///
/// Each (batch, head) pair is a few GEMMs on strided views; the softmax runs on all rows in parallel.
/// The GEMMs run in the precision of their operands (`GemmOperand`): in bf16, `qkv` and `dOut` come
/// as bf16 copies, and the probabilities and their gradient are rounded into the given copies once,
/// after the fp32 softmax (and its backward) that produce them.
public enum CausalAttention {
    /// - Parameters:
    ///   - out: (B, T, C) attention output before the output projection
    ///   - probs: (B, H, T, T) softmax probabilities, saved for backward (upper triangle zero)
    ///   - qkv: (B, T, W) with q, k, v in column blocks, RoPE already applied to q and k
    ///   - probsCopy: (B, H, T, T) bf16 copy of `probs` for the products, or nil (fp32)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, probs: UnsafeMutablePointer<T>, qkv: GemmOperand<T>, probsCopy: BFloat16Buffer?,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .attention(backward: false), flops: 4 * Double(batch * heads * seqLen) * Double(seqLen * headDim)) }
        let G = kvHeads ?? heads, C = heads * headDim, K = G * headDim, W = C + 2 * K, T_ = seqLen
        let group = heads / G
        let scale = 1 / T(headDim).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                let row = b * T_ * W
                let q = qkv.advanced(by: row + h * headDim), k = qkv.advanced(by: row + C + (h / group) * headDim)
                let att = probs + (b * heads + h) * T_ * T_
                T.gemm(transposeA: false, transposeB: true, m: T_, n: T_, k: headDim,
                       alpha: scale, a: q, lda: W, b: k, ldb: W, beta: 0, c: att, ldc: T_)
            }
        }
        Parallel.forEachChunk(batch * heads * T_, minimumPerThread: 64) { range in
            for row in range {
                let t = row % T_
                let p = probs + row * T_
                _ = VectorMath.softmax(p, t + 1)
                (p + t + 1).update(repeating: 0, count: T_ - t - 1)
            }
        }
        let p = GemmOperand(probs, count: batch * heads * T_ * T_, roundingInto: probsCopy)
        for b in 0..<batch {
            for h in 0..<heads {
                let v = qkv.advanced(by: b * T_ * W + C + K + (h / group) * headDim)
                T.gemm(transposeA: false, transposeB: false, m: T_, n: headDim, k: T_,
                       alpha: 1, a: p.advanced(by: (b * heads + h) * T_ * T_), lda: T_, b: v, ldb: W,
                       beta: 0, c: out + b * T_ * C + h * headDim, ldc: C)
            }
        }
    }

    /// Writes `dqkv` (B, T, W) from `dOut` (B, T, C), using `dProbs` (B, H, T, T) as scratch.
    /// Query heads sharing a key/value head add their gradients into it.
    /// - Parameters:
    ///   - qkv: (B, T, W) the forward's operand; probs: (B, H, T, T) its fp32 probabilities and
    ///     probsOperand the operand its products read (`probs`, or the bf16 copy it saved)
    ///   - dProbsCopy: (B, H, T, T) where the gradient of the scores is rounded for its products, or nil (fp32)
    public static func backward<T: TensorScalar>(
        dqkv: UnsafeMutablePointer<T>, dProbs: UnsafeMutablePointer<T>, dOut: GemmOperand<T>,
        qkv: GemmOperand<T>, probs: UnsafePointer<T>, probsOperand: GemmOperand<T>, dProbsCopy: BFloat16Buffer?,
        batch: Int, seqLen: Int, heads: Int, kvHeads: Int? = nil, headDim: Int
    ) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .attention(backward: true), flops: 8 * Double(batch * heads * seqLen) * Double(seqLen * headDim)) }
        let G = kvHeads ?? heads, C = heads * headDim, K = G * headDim, W = C + 2 * K, T_ = seqLen
        let group = heads / G
        let scale = 1 / T(headDim).squareRoot()
        dqkv.update(repeating: 0, count: batch * T_ * W)
        for b in 0..<batch {
            for h in 0..<heads {
                let kv = b * T_ * W + C + K + (h / group) * headDim
                let v = qkv.advanced(by: kv), dv = dqkv + kv
                let dO = dOut.advanced(by: b * T_ * C + h * headDim)
                let pair = (b * heads + h) * T_ * T_
                // dP = dO · Vᵀ ;  dV += Pᵀ · dO
                T.gemm(transposeA: false, transposeB: true, m: T_, n: T_, k: headDim,
                       alpha: 1, a: dO, lda: C, b: v, ldb: W, beta: 0, c: dProbs + pair, ldc: T_)
                T.gemm(transposeA: true, transposeB: false, m: T_, n: headDim, k: T_,
                       alpha: 1, a: probsOperand.advanced(by: pair), lda: T_, b: dO, ldb: C, beta: 1, c: dv, ldc: W)
            }
        }
        // Softmax backward per row: dS = P ⊙ (dP − Σ P⊙dP), zero above the diagonal.
        Parallel.forEachChunk(batch * heads * T_, minimumPerThread: 64) { range in
            for row in range {
                let t = row % T_
                let p = probs + row * T_, dp = dProbs + row * T_
                let inner = VectorMath.dot(p, UnsafePointer(dp), t + 1)
                for j in 0...t { dp[j] = p[j] * (dp[j] - inner) }
                (dp + t + 1).update(repeating: 0, count: T_ - t - 1)
            }
        }
        let dS = GemmOperand(dProbs, count: batch * heads * T_ * T_, roundingInto: dProbsCopy)
        for b in 0..<batch {
            for h in 0..<heads {
                let row = b * T_ * W
                let q = qkv.advanced(by: row + h * headDim), k = qkv.advanced(by: row + C + (h / group) * headDim)
                let dq = dqkv + row + h * headDim, dk = dqkv + row + C + (h / group) * headDim
                let ds = dS.advanced(by: (b * heads + h) * T_ * T_)
                // dQ = scale · dS · K ;  dK += scale · dSᵀ · Q
                T.gemm(transposeA: false, transposeB: false, m: T_, n: headDim, k: T_,
                       alpha: scale, a: ds, lda: T_, b: k, ldb: W, beta: 0, c: dq, ldc: W)
                T.gemm(transposeA: true, transposeB: false, m: T_, n: headDim, k: T_,
                       alpha: scale, a: ds, lda: T_, b: q, ldb: W, beta: 1, c: dk, ldc: W)
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
}
