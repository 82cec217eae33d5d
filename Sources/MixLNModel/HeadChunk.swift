import MixLNTensor

// Dimensions: N = B·T rows of a residual stream, C channels, V vocabulary, R rows per chunk (capacity).

/// Buffers to run the final norm and the LM head on up to R chosen rows of any residual stream,
/// outside a forward: `Transformer.headLogits(of:rows:into:)` fills `logits`. The head's output is
/// never (N, V) whole; callers walk their rows R at a time (target log-probabilities, the logit lens).
public final class HeadChunk<T: TensorScalar> {
    /// R: the most rows one call computes.
    public let capacity: Int
    /// (R, V) the logits of the rows of the last call, in the order given.
    public let logits: Buffer<T>
    let gathered: Buffer<T>  // (R, C) the chosen rows of the stream
    let normed: Buffer<T>    // (R, C) their final-norm outputs
    let rstd: Buffer<T>      // (R) the final norm's 1/rms per row (RMSNorm; unused by DyT)
    let normedCopy: BFloat16Buffer?  // (R, C) the final-norm outputs in bf16 (nil in fp32)
    let precision: MatmulPrecision

    init(capacity R: Int, channels C: Int, vocabulary V: Int, precision: MatmulPrecision) {
        capacity = R
        logits = Buffer(count: R * V)
        gathered = Buffer(count: R * C)
        normed = Buffer(count: R * C)
        rstd = Buffer(count: R)
        normedCopy = bfloat16Copy(R * C, precision)
        self.precision = precision
    }
}

extension Transformer {
    /// Buffers for `headLogits` on up to `rows` rows at a time, in the current `matmulPrecision`.
    public func headChunk(rows: Int) -> HeadChunk<T> {
        HeadChunk(capacity: max(1, rows), channels: config.hiddenSize, vocabulary: config.vocabSize, precision: matmulPrecision)
    }

    /// Final norm and LM head on rows `rows` of `stream` (N, C), exactly as the forward computes them on
    /// the last layer's output (same kernels, same bf16 rounding): `chunk.logits` row m is the logits of
    /// stream row `rows[m]`. Given a layer input (`layerInput(l)`) this is the logit lens.
    /// - Parameters: stream (N, C); rows at most `chunk.capacity` indices into it
    public func headLogits(of stream: UnsafePointer<T>, rows: some Collection<Int>, into chunk: HeadChunk<T>) {
        let C = config.hiddenSize, V = config.vocabSize, M = rows.count
        precondition(M <= chunk.capacity, "\(M) rows for a head chunk of \(chunk.capacity)")
        precondition(chunk.precision == matmulPrecision, "the head chunk was made for \(chunk.precision), the model computes in \(matmulPrecision)")
        guard M > 0 else { return }
        prepareMatmulWeights()
        for (m, n) in rows.enumerated() { (chunk.gathered.pointer + m * C).update(from: stream + n * C, count: C) }
        normForward(layout.finalNorm, out: chunk.normed.pointer, rstd: chunk.rstd.pointer, inp: chunk.gathered.pointer, rows: M)
        Linear.forward(out: chunk.logits.pointer, inp: GemmOperand(chunk.normed.pointer, count: M * C, roundingInto: chunk.normedCopy),
                       weight: matmulWeight(layout.lmHead, count: V * C), rows: M, inChannels: C, outChannels: V)
    }
}
