import MixLNTensor

// Dimensions: N rows, C channels, V vocabulary, R rows per chunk. The head's weight W is (V, C).

/// The LM head `logits = h · Wᵀ` fused with softmax cross-entropy, run R rows at a time so that no
/// (N, V) buffer exists: each chunk's logits become probabilities (and, for training, dLogits) in
/// one (R, V) buffer.
///
/// Training differentiates it one of two ways. An eager `forward` (given a `Gradient`) turns each
/// chunk into `dLogits = s · (P − Y)` as soon as its loss is known and multiplies it out at once
/// (the Liger-kernel way: 6·N·C·V flops, nothing recomputed), leaving the gradient of s · Σ rowLoss
/// for a backward that only scales it: right when every row counts alike. `backward` recomputes
/// each chunk's logits from the kept `h` (8·N·C·V flops with the forward) and weights each row as
/// it is told: for weights decided after the forward.
///
/// In bf16, `hiddenCopy` holds `h` rounded: (N, C) when a backward follows (rounded chunk by chunk
/// in `forward`, read again by `backward`), else (R, C) for the chunk being run; `dLogitsCopy`
/// (R, V) holds the chunk's dLogits. Both are nil in fp32.
enum HeadLoss {
    /// The gradient of s · Σ rowLoss over the counted rows, as an eager `forward` writes it.
    final class Gradient<T: TensorScalar> {
        let dInput: Buffer<T>   // (N, C) s · (P − Y) · W
        let dWeight: Buffer<T>  // (V, C) s · (P − Y)ᵀ · h

        init(dInput: Buffer<T>, dWeight: Buffer<T>) {
            self.dInput = dInput
            self.dWeight = dWeight
        }
    }

    /// Writes each counted row's loss into `rowLoss`. Chunks none of whose targets counts are skipped
    /// when `skippingEmptyChunks` (forward-only passes), else computed and left as logits. With
    /// `gradient`, every chunk that counts is differentiated at once (see the type's notes; s is
    /// `gradientScale`), and the logits buffer ends as the last such chunk's dLogits. `weight` is
    /// asked for once, at the first chunk run.
    /// - Parameters: logits (R, V) scratch, hidden (N, C), targets (N), rowLoss (N)
    static func forward<T: TensorScalar>(
        logits: UnsafeMutablePointer<T>, hidden: UnsafePointer<T>, hiddenCopy: BFloat16Buffer?,
        weight: () -> GemmOperand<T>, targets: UnsafePointer<Int32>, rowLoss: UnsafeMutablePointer<Double>,
        rows N: Int, chunkRows R: Int, channels C: Int, vocab V: Int, skippingEmptyChunks: Bool,
        gradient: Gradient<T>?, gradientScale: T, dLogitsCopy: BFloat16Buffer?
    ) {
        var w: GemmOperand<T>?
        var accumulate = false  // the first chunk differentiated writes dWeight, the others add to it
        for start in stride(from: 0, to: N, by: R) {
            let rows = min(R, N - start)
            let predicts = (start..<(start + rows)).contains { targets[$0] != CrossEntropy.ignoreIndex }
            if !predicts && skippingEmptyChunks { continue }
            if w == nil { w = weight() }
            let h = hiddenOperand(hidden, hiddenCopy, start: start, rows: rows, totalRows: N, channels: C, rounding: true)
            Linear.forward(out: logits, inp: h, weight: w!, rows: rows, inChannels: C, outChannels: V)
            guard let gradient else {
                CrossEntropy.forward(logits: logits, targets: targets + start, rows: rows, vocab: V, rowLoss: rowLoss + start)
                continue
            }
            guard predicts else {
                (gradient.dInput.pointer + start * C).update(repeating: 0, count: rows * C)
                continue
            }
            CrossEntropy.forwardBackward(logits: logits, targets: targets + start, rows: rows, vocab: V, rowLoss: rowLoss + start,
                                         scale: gradientScale, dLogitsCopy: dLogitsCopy?.pointer)
            chunkGradient(dInput: gradient.dInput.pointer + start * C, dWeight: gradient.dWeight.pointer, accumulate: accumulate,
                          dLogits: logits, dLogitsCopy: dLogitsCopy, hidden: h, weight: w!, rows: rows, channels: C, vocab: V)
            accumulate = true
        }
    }

    /// Recomputes each chunk that counts and writes `dInput` = dLogits · W, adding dLogitsᵀ · h into
    /// `dWeight`, where row n of dLogits is `scale · rowWeights[n] · (p − onehot)` (`scale` alone
    /// without weights) and ignored rows are 0. Gives `forward`'s logits again bit for bit (same
    /// chunks, same products), so the rows' losses in `rowLoss` are rewritten unchanged.
    /// - Parameters: dInput (N, C), dWeight (V, C), logits (R, V) scratch, hidden (N, C) with its
    ///   (N, C) copy saved by `forward`, targets (N), rowLoss (N), rowWeights (N) or nil
    static func backward<T: TensorScalar>(
        dInput: UnsafeMutablePointer<T>, dWeight: UnsafeMutablePointer<T>, logits: UnsafeMutablePointer<T>,
        hidden: UnsafePointer<T>, hiddenCopy: BFloat16Buffer?, weight: GemmOperand<T>, targets: UnsafePointer<Int32>,
        rowLoss: UnsafeMutablePointer<Double>, scale: T, rowWeights: UnsafePointer<T>?,
        rows N: Int, chunkRows R: Int, channels C: Int, vocab V: Int, dLogitsCopy: BFloat16Buffer?
    ) {
        for start in stride(from: 0, to: N, by: R) {
            let rows = min(R, N - start)
            guard (start..<(start + rows)).contains(where: { targets[$0] != CrossEntropy.ignoreIndex }) else {
                (dInput + start * C).update(repeating: 0, count: rows * C)
                continue
            }
            let h = hiddenOperand(hidden, hiddenCopy, start: start, rows: rows, totalRows: N, channels: C, rounding: false)
            Linear.forward(out: logits, inp: h, weight: weight, rows: rows, inChannels: C, outChannels: V)
            CrossEntropy.forwardBackward(logits: logits, targets: targets + start, rows: rows, vocab: V, rowLoss: rowLoss + start,
                                         scale: scale, rowWeights: rowWeights.map { $0 + start }, dLogitsCopy: dLogitsCopy?.pointer)
            chunkGradient(dInput: dInput + start * C, dWeight: dWeight, accumulate: true, dLogits: logits, dLogitsCopy: dLogitsCopy,
                          hidden: h, weight: weight, rows: rows, channels: C, vocab: V)
        }
    }

    /// The chunk's rows of `hidden` as the GEMMs read them: the values, or their bf16 copy — at the
    /// chunk's rows of an (N, C) copy, else at the start of an (R, C) one — rounded now if `rounding`.
    /// - Parameters: hidden (N, C)
    private static func hiddenOperand<T: TensorScalar>(
        _ hidden: UnsafePointer<T>, _ copy: BFloat16Buffer?, start: Int, rows: Int, totalRows N: Int, channels C: Int, rounding: Bool
    ) -> GemmOperand<T> {
        guard let copy else { return .values(hidden + start * C) }
        let offset = copy.count >= N * C ? start * C : 0
        if rounding { copy.round(hidden + start * C, count: rows * C, at: offset) }
        return .bfloat16(copy.pointer + offset)
    }

    /// `dInput = dLogits · W` (written) and `dWeight (+)= dLogitsᵀ · h` (added when `accumulate`) for
    /// one chunk; in bf16 the GEMMs read `dLogitsCopy`, which `CrossEntropy.forwardBackward` filled.
    /// - Parameters: dInput (R, C), dWeight (V, C), dLogits (R, V), hidden (R, C), weight (V, C)
    private static func chunkGradient<T: TensorScalar>(
        dInput: UnsafeMutablePointer<T>, dWeight: UnsafeMutablePointer<T>, accumulate: Bool,
        dLogits: UnsafePointer<T>, dLogitsCopy: BFloat16Buffer?, hidden: GemmOperand<T>, weight: GemmOperand<T>,
        rows R: Int, channels C: Int, vocab V: Int
    ) {
        let d = GemmOperand(dLogits, savedIn: dLogitsCopy)
        T.gemm(transposeA: false, transposeB: false, m: R, n: C, k: V, alpha: 1, a: d, lda: V, b: weight, ldb: C,
               beta: 0, c: dInput, ldc: C)
        T.gemm(transposeA: true, transposeB: false, m: V, n: C, k: R, alpha: 1, a: d, lda: V, b: hidden, ldb: C,
               beta: accumulate ? 1 : 0, c: dWeight, ldc: C)
    }
}
