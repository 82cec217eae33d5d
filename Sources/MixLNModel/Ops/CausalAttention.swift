import MixLNTensor

// Dimensions: B batch, T tokens, C = H·D channels, H heads, D head size.

/// Causal multi-head self-attention on a fused qkv buffer, scores scaled by 1/√D.
///
/// Each (batch, head) pair is a few BLAS calls on strided views; the softmax runs on all rows in parallel.
public enum CausalAttention {
    /// - Parameters:
    ///   - out: (B, T, C) attention output before the output projection
    ///   - probs: (B, H, T, T) softmax probabilities, saved for backward (upper triangle zero)
    ///   - qkv: (B, T, 3C) with q, k, v in column blocks, RoPE already applied to q and k
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, probs: UnsafeMutablePointer<T>, qkv: UnsafePointer<T>,
        batch: Int, seqLen: Int, heads: Int, headDim: Int
    ) {
        let C = heads * headDim, T_ = seqLen
        let scale = 1 / T(headDim).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                let q = qkv + b * T_ * 3 * C + h * headDim
                let k = q + C
                let att = probs + (b * heads + h) * T_ * T_
                T.gemm(transposeA: false, transposeB: true, m: T_, n: T_, k: headDim,
                       alpha: scale, a: q, lda: 3 * C, b: k, ldb: 3 * C, beta: 0, c: att, ldc: T_)
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
        for b in 0..<batch {
            for h in 0..<heads {
                let v = qkv + b * T_ * 3 * C + 2 * C + h * headDim
                let att = probs + (b * heads + h) * T_ * T_
                T.gemm(transposeA: false, transposeB: false, m: T_, n: headDim, k: T_,
                       alpha: 1, a: att, lda: T_, b: v, ldb: 3 * C, beta: 0, c: out + b * T_ * C + h * headDim, ldc: C)
            }
        }
    }

    /// Writes `dqkv` (B, T, 3C) from `dOut` (B, T, C), using `dProbs` (B, H, T, T) as scratch.
    public static func backward<T: TensorScalar>(
        dqkv: UnsafeMutablePointer<T>, dProbs: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>,
        qkv: UnsafePointer<T>, probs: UnsafePointer<T>,
        batch: Int, seqLen: Int, heads: Int, headDim: Int
    ) {
        let C = heads * headDim, T_ = seqLen
        let scale = 1 / T(headDim).squareRoot()
        for b in 0..<batch {
            for h in 0..<heads {
                let base = b * T_ * 3 * C + h * headDim
                let v = qkv + base + 2 * C, dv = dqkv + base + 2 * C
                let dO = dOut + b * T_ * C + h * headDim
                let p = probs + (b * heads + h) * T_ * T_, dp = dProbs + (b * heads + h) * T_ * T_
                // dP = dO · Vᵀ ;  dV = Pᵀ · dO
                T.gemm(transposeA: false, transposeB: true, m: T_, n: T_, k: headDim,
                       alpha: 1, a: dO, lda: C, b: v, ldb: 3 * C, beta: 0, c: dp, ldc: T_)
                T.gemm(transposeA: true, transposeB: false, m: T_, n: headDim, k: T_,
                       alpha: 1, a: p, lda: T_, b: dO, ldb: C, beta: 0, c: dv, ldc: 3 * C)
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
        for b in 0..<batch {
            for h in 0..<heads {
                let base = b * T_ * 3 * C + h * headDim
                let q = qkv + base, k = q + C
                let dq = dqkv + base, dk = dq + C
                let ds = dProbs + (b * heads + h) * T_ * T_
                // dQ = scale · dS · K ;  dK = scale · dSᵀ · Q
                T.gemm(transposeA: false, transposeB: false, m: T_, n: headDim, k: T_,
                       alpha: scale, a: ds, lda: T_, b: k, ldb: 3 * C, beta: 0, c: dq, ldc: 3 * C)
                T.gemm(transposeA: true, transposeB: false, m: T_, n: headDim, k: T_,
                       alpha: scale, a: ds, lda: T_, b: q, ldb: 3 * C, beta: 0, c: dk, ldc: 3 * C)
            }
        }
    }
}
