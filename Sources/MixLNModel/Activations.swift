import MixLNTensor

// Dimensions: B batch, T tokens, N = B·T, C channels, I intermediate, H heads, V vocabulary, L layers,
// R rows per LM-head chunk, W = C + 2K the width of a fused qkv row.
//
// In `MatmulPrecision.bf16` every matrix a GEMM reads has a bf16 copy beside it (the `…Copy`
// buffers, nil in fp32): made once when the matrix is computed and read by every product that
// uses it, forward and backward. The fp32 values stay for the fp32 ops (norms, softmax, SwiGLU,
// the residual stream) and for the analyses that read them. Layer buffers shared by a forward-only
// pass share their copies too; the chunked LM head rounds only the chunk it runs.

/// `BFloat16Buffer(count:)` in bf16, nil in fp32: the one place the precision decides an allocation.
func bfloat16Copy(_ count: Int, _ precision: MatmulPrecision) -> BFloat16Buffer? {
    precision == .bf16 ? BFloat16Buffer(count: count) : nil
}

/// What one sublayer's forward saves for its backward. Optional buffers exist only where the plan
/// places the matching norm.
final class SublayerActivations<T: TensorScalar> {
    let inputNormed: Buffer<T>?   // (N, C) N_in(x)·s, the sublayer body's input u
    let inputRstd: Buffer<T>?     // (N) RMSNorm's 1/rms per row (DyT saves none; this and the other rstd buffers go unused)
    let body: Buffer<T>           // (N, C) f = F(u)
    let outputNormed: Buffer<T>?  // (N, C) N_out(f)
    let outputRstd: Buffer<T>?    // (N)
    let residual: Buffer<T>?      // (N, C) r = α·x̃ + g', kept only when a post norm or GPAS after the residual follows
    let postRstd: Buffer<T>?      // (N)
    let scaledOutput: Buffer<T>?  // (N, C) λ ⊙ g, when an output scale follows
    let bodyInputCopy: BFloat16Buffer?  // (N, C) u in bf16

    init(norms: SublayerNorms, rows N: Int, channels C: Int, precision: MatmulPrecision) {
        inputNormed = norms.inputNorm ? Buffer(count: N * C) : nil
        inputRstd = norms.inputNorm ? Buffer(count: N) : nil
        body = Buffer(count: N * C)
        outputNormed = norms.outputNorm ? Buffer(count: N * C) : nil
        outputRstd = norms.outputNorm ? Buffer(count: N) : nil
        residual = norms.postNorm || norms.gpas == .afterResidual ? Buffer(count: N * C) : nil
        postRstd = norms.postNorm ? Buffer(count: N) : nil
        scaledOutput = norms.outputScale != nil ? Buffer(count: N * C) : nil
        bodyInputCopy = bfloat16Copy(N * C, precision)
    }

    var elementCount: Int {
        [inputNormed, inputRstd, body, outputNormed, outputRstd, residual, postRstd, scaledOutput].reduce(0) { $0 + ($1?.count ?? 0) }
    }

    /// bf16 values in the copies (0 in fp32).
    var copyCount: Int { bodyInputCopy?.count ?? 0 }
}

/// One decoder layer's saved activations.
final class LayerActivations<T: TensorScalar> {
    let attention: SublayerActivations<T>
    let mlp: SublayerActivations<T>
    let qkv: Buffer<T>      // (N, C + 2K) after RoPE on q and k
    let logSumExp: Buffer<T>  // (B, H, T) each attention row's log Σ exp of its scores
    let context: Buffer<T>  // (N, C) attention output before o_proj
    let gateUp: Buffer<T>   // (N, 2I)
    let hidden: Buffer<T>?  // (N, I) silu(gate)·up; nil in bf16, where only `hiddenCopy` is read
    let qkRaw: Buffer<T>?   // (N, W) q|k (|v) before QK-norm, at their qkv offsets (nil without QK-norm)
    let qkRstd: Buffer<T>?  // (N, H + 2G) QK-norm's 1/rms per segment
    let qkvCopy: BFloat16Buffer?      // (N, W)
    let contextCopy: BFloat16Buffer?  // (N, C)
    let hiddenCopy: BFloat16Buffer?   // (N, I)

    init(norms: LayerNorms, batch B: Int, seqLen T_: Int, config: ModelConfig, precision: MatmulPrecision) {
        let N = B * T_, C = config.hiddenSize, I = config.intermediateSize, W = C + 2 * config.keyValueSize
        attention = SublayerActivations(norms: norms.attention, rows: N, channels: C, precision: precision)
        mlp = SublayerActivations(norms: norms.mlp, rows: N, channels: C, precision: precision)
        qkv = Buffer(count: N * W)
        logSumExp = Buffer(count: B * config.numAttentionHeads * T_)
        context = Buffer(count: N * C)
        gateUp = Buffer(count: N * 2 * I)
        hidden = precision == .bf16 ? nil : Buffer(count: N * I)
        let hasQKNorm = norms.qkNorm != .none
        qkRaw = hasQKNorm ? Buffer(count: N * W) : nil
        qkRstd = hasQKNorm ? Buffer(count: N * QueryKeyNorm.rstdPerRow(heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads)) : nil
        qkvCopy = bfloat16Copy(N * W, precision)
        contextCopy = bfloat16Copy(N * C, precision)
        hiddenCopy = bfloat16Copy(N * I, precision)
    }

    var elementCount: Int {
        attention.elementCount + mlp.elementCount + [qkv, logSumExp, context, gateUp, hidden, qkRaw, qkRstd].reduce(0) { $0 + ($1?.count ?? 0) }
    }

    /// bf16 values in the copies (0 in fp32).
    var copyCount: Int {
        attention.copyCount + mlp.copyCount + [qkvCopy, contextCopy, hiddenCopy].reduce(0) { $0 + ($1?.count ?? 0) }
    }
}

/// What a forward pass keeps, which decides how much memory its activations take.
public enum ForwardRetention: Sendable {
    /// Everything backward reads, per layer: training, gradient norms. The LM head and loss are
    /// differentiated during the forward, chunk by chunk (`HeadLoss`), for rows that count alike:
    /// `backward(lossScale:)` only scales that gradient (`backward(rowLossWeights:)` still works,
    /// recomputing the head).
    case backward
    /// As `.backward`, but the LM head's gradient is left to the backward, which recomputes each
    /// chunk's logits (8·N·C·V flops instead of 6): for `backward(rowLossWeights:)` with weights
    /// decided after the forward (DPO).
    case weightedBackward
    /// The residual stream entering every decoder layer (x_0 … x_L) and nothing else per layer:
    /// analyses that compare layers (angular distance, depth statistics) or rerun the model's tail
    /// from a kept input (`Transformer.resumeForward(fromLayer:)`, layer removal).
    case layerInputs
    /// Only what the loss needs: three residual-stream buffers in rotation (evaluation).
    case loss

    /// Whether a backward can follow: every layer keeps its own buffers.
    var keepsBackward: Bool { self == .backward || self == .weightedBackward }
}

/// All activations of one (batch, seqLen) shape and retention, allocated once; backward scratch on first use.
///
/// With `.backward` every layer has its own buffers. Otherwise one layer's buffers serve every layer
/// in turn (holding every buffer any layer's placement needs). The LM head runs in chunks of
/// `headRows` rows, so no (B·T, V) logits buffer exists.
final class Activations<T: TensorScalar> {
    let batch: Int
    let seqLen: Int
    let retention: ForwardRetention
    var rows: Int { batch * seqLen }
    var tokens: [Int32]   // (N)
    var targets: [Int32]  // (N)
    let embedded: Buffer<T>?   // (N, C) raw embedding when an embedding norm follows
    let embeddedRstd: Buffer<T>?  // (N)
    /// The residual stream, read through `stream(_:)`: `.backward` (2L+1) × (N, C); `.layerInputs`
    /// (L+2) × (N, C), layer inputs then one MLP-input buffer; `.loss` 3 × (N, C) in rotation.
    let streams: [Buffer<T>]
    /// One per layer with `.backward`; else L references to one shared set.
    let layers: [LayerActivations<T>]
    let finalNormed: Buffer<T> // (N, C)
    let finalRstd: Buffer<T>   // (N)
    /// Rows of the LM head computed per chunk (R): `headChunkElements / V` (at least 1, at most N).
    let headRows: Int
    let logits: Buffer<T>      // (R, V) the chunk's logits → probabilities or dLogits
    /// The final-norm rows in bf16: (N, C) when a backward can follow (it reads them again), else
    /// (R, C) for the LM-head chunk being run.
    let finalNormedCopy: BFloat16Buffer?
    let rowLoss: Buffer<Double>  // (N) each counted row's loss, summed in row order
    var lossSum: Double = 0
    var predictedCount: Int = 0

    /// - Parameter headChunkElements: logits per LM-head chunk when the head is chunked; rows = this / V.
    init(config: ModelConfig, plan: NormPlan, batch B: Int, seqLen T_: Int, retention: ForwardRetention = .backward,
         precision: MatmulPrecision = .fp32, headChunkElements: Int = 1 << 23) {
        batch = B
        seqLen = T_
        self.retention = retention
        let N = B * T_, C = config.hiddenSize, V = config.vocabSize, L = config.numHiddenLayers
        tokens = Array(repeating: 0, count: N)
        targets = Array(repeating: CrossEntropy.ignoreIndex, count: N)
        embedded = plan.embeddingNorm ? Buffer(count: N * C) : nil
        embeddedRstd = plan.embeddingNorm ? Buffer(count: N) : nil
        let streamCount = [ForwardRetention.backward: 2 * L + 1, .weightedBackward: 2 * L + 1, .layerInputs: L + 2, .loss: 3][retention]!
        streams = (0..<streamCount).map { _ in Buffer(count: N * C) }
        if retention.keepsBackward {
            layers = plan.layers.map { LayerActivations(norms: $0, batch: B, seqLen: T_, config: config, precision: precision) }
        } else {
            let shared = LayerActivations<T>(norms: Self.union(plan.layers), batch: B, seqLen: T_, config: config, precision: precision)
            layers = Array(repeating: shared, count: L)
        }
        finalNormed = Buffer(count: N * C)
        finalRstd = Buffer(count: N)
        headRows = max(1, min(N, headChunkElements / V))
        logits = Buffer(count: headRows * V)
        finalNormedCopy = bfloat16Copy((retention.keepsBackward ? N : headRows) * C, precision)
        rowLoss = Buffer(count: N)
        scratchShape = (N * C, C + 2 * config.keyValueSize, config.intermediateSize)
        self.precision = precision
        headShape = (C, V)
    }

    /// Residual-stream buffer `i`: `2l` enters layer l's attention, `2l+1` its MLP, `2L` leaves the last layer.
    /// With `.layerInputs` every odd index is the same buffer; with `.loss` any three consecutive indices differ.
    func stream(_ i: Int) -> Buffer<T> {
        switch retention {
        case .backward, .weightedBackward: return streams[i]
        case .layerInputs: return i % 2 == 0 ? streams[i / 2] : streams[streams.count - 1]
        case .loss: return streams[i % 3]
        }
    }

    /// Three (N, C) buffers in rotation for a forward resumed from a kept layer input (which must
    /// stay intact for the next resume), allocated on first use.
    var resumeStreams: [Buffer<T>] {
        assert(!Parallel.isInLoopBody, "resumeStreams asked for inside a parallel loop; read it before the loop")
        if let resumeStorage { return resumeStorage }
        let buffers = (0..<3).map { _ in Buffer<T>(count: finalNormed.count) }
        resumeStorage = buffers
        return buffers
    }

    /// Bytes held now: every forward buffer (shared layer buffers once), the bf16 copies and any backward scratch.
    var byteCount: Int {
        var elements = streams.reduce(0) { $0 + $1.count } + finalNormed.count + finalRstd.count + logits.count
        elements += (embedded?.count ?? 0) + (embeddedRstd?.count ?? 0)
        var copies = finalNormedCopy?.count ?? 0
        var seen = Set<ObjectIdentifier>()
        for layer in layers where seen.insert(ObjectIdentifier(layer)).inserted {
            elements += layer.elementCount
            copies += layer.copyCount
        }
        elements += scratch?.elementCount ?? 0
        copies += scratch?.copyCount ?? 0
        elements += (headGradientStorage?.dInput.count ?? 0) + (headGradientStorage?.dWeight.count ?? 0)
        copies += dLogitsCopyStorage?.count ?? 0
        elements += resumeStorage?.reduce(0) { $0 + $1.count } ?? 0
        return elements * MemoryLayout<T>.stride + copies * MemoryLayout<UInt16>.stride + rowLoss.count * MemoryLayout<Double>.stride
    }

    /// Whether a backward pass has allocated its scratch.
    var backwardScratchAllocated: Bool { scratch != nil }

    // Backward scratch, allocated by the first backward (a forward-only model never needs it). Like
    // every buffer here allocated on first use (`headGradient`, `dLogitsCopy`, `resumeStreams`), it
    // is not thread-safe: ask for it on the calling thread and hand a `Parallel` loop its pointers
    // (see `Parallel.isInLoopBody`; debug builds check).
    private let scratchShape: BackwardScratch<T>.Shape
    private let precision: MatmulPrecision
    private var scratch: BackwardScratch<T>?
    private var backwardScratch: BackwardScratch<T> {
        assert(!Parallel.isInLoopBody, "backward scratch asked for inside a parallel loop; read its pointers before the loop")
        if let scratch { return scratch }
        precondition(retention.keepsBackward, "backward scratch for a forward that kept only \(retention)")
        let s = BackwardScratch<T>(rows: rows, shape: scratchShape, precision: precision)
        scratch = s
        return s
    }
    private var resumeStorage: [Buffer<T>]?  // 3 × (N, C)
    private let headShape: (channels: Int, vocabulary: Int)  // C, V

    /// The LM head's gradient as a `.backward` forward computes it (`HeadLoss.Gradient`), allocated
    /// by the first such forward; `headGradientReady` says whether the last forward wrote it.
    var headGradient: HeadLoss.Gradient<T> {
        assert(!Parallel.isInLoopBody, "headGradient asked for inside a parallel loop; read its pointers before the loop")
        if let headGradientStorage { return headGradientStorage }
        let g = HeadLoss.Gradient<T>(dInput: Buffer(count: rows * headShape.channels),
                                     dWeight: Buffer(count: headShape.vocabulary * headShape.channels))
        headGradientStorage = g
        return g
    }
    private var headGradientStorage: HeadLoss.Gradient<T>?
    var headGradientReady = false
    /// (R, V) the LM-head chunk's dLogits in bf16 (nil in fp32), allocated by the first head gradient.
    var dLogitsCopy: BFloat16Buffer? {
        assert(!Parallel.isInLoopBody, "dLogitsCopy asked for inside a parallel loop; read it before the loop")
        if precision == .fp32 { return nil }
        if let dLogitsCopyStorage { return dLogitsCopyStorage }
        let copy = BFloat16Buffer(count: logits.count)
        dLogitsCopyStorage = copy
        return copy
    }
    private var dLogitsCopyStorage: BFloat16Buffer?
    var dStreamOut: Buffer<T> { backwardScratch.dStreamOut }
    var dStreamIn: Buffer<T> { backwardScratch.dStreamIn }
    var dResidual: Buffer<T> { backwardScratch.dResidual }
    var dBody: Buffer<T> { backwardScratch.dBody }
    var dBodyInput: Buffer<T> { backwardScratch.dBodyInput }
    var dScaled: Buffer<T> { backwardScratch.dScaled }
    var dqkv: Buffer<T> { backwardScratch.dqkv }
    var dContext: Buffer<T> { backwardScratch.dContext }
    var dGateUp: Buffer<T> { backwardScratch.dGateUp }
    var dHidden: Buffer<T> { backwardScratch.dHidden }
    var dOutCopy: BFloat16Buffer? { backwardScratch.dOutCopy }

    /// A placement holding every norm any layer of `layers` has, so one set of buffers fits them all.
    static func union(_ layers: [LayerNorms]) -> LayerNorms {
        func any(_ part: (LayerNorms) -> SublayerNorms) -> SublayerNorms {
            SublayerNorms(inputNorm: layers.contains { part($0).inputNorm }, outputNorm: layers.contains { part($0).outputNorm },
                          postNorm: layers.contains { part($0).postNorm }, outputScale: layers.compactMap { part($0).outputScale }.first,
                          gpas: layers.contains { part($0).gpas == .afterResidual } ? .afterResidual : layers.compactMap { part($0).gpas }.first)
        }
        // QK-norm buffers are the same size in either mode.
        return LayerNorms(attention: any(\.attention), mlp: any(\.mlp), qkNorm: layers.first { $0.qkNorm != .none }?.qkNorm ?? .none,
                          valueNorm: layers.contains { $0.valueNorm })
    }
}

/// What backward needs besides the forward's saved activations.
final class BackwardScratch<T: TensorScalar> {
    let dStreamOut: Buffer<T>   // (N, C)
    let dStreamIn: Buffer<T>    // (N, C)
    let dResidual: Buffer<T>    // (N, C)
    let dBody: Buffer<T>        // (N, C)
    let dBodyInput: Buffer<T>   // (N, C)
    let dScaled: Buffer<T>      // (N, C) gradient of the output before its scale λ
    let dqkv: Buffer<T>         // (N, C + 2K)
    let dContext: Buffer<T>     // (N, C)
    let dGateUp: Buffer<T>      // (N, 2I); empty in bf16, where SwiGLU's backward writes only `dOutCopy`
    let dHidden: Buffer<T>      // (N, I)
    /// (N, max(W, 2I)) the output gradient of the Linear being differentiated, in bf16 (nil in fp32).
    let dOutCopy: BFloat16Buffer?

    /// The sizes the buffers are made from: N·C, W, I.
    typealias Shape = (rowsTimesWidth: Int, qkvWidth: Int, intermediate: Int)

    init(rows N: Int, shape: Shape, precision: MatmulPrecision) {
        dStreamOut = Buffer(count: shape.rowsTimesWidth)
        dStreamIn = Buffer(count: shape.rowsTimesWidth)
        dResidual = Buffer(count: shape.rowsTimesWidth)
        dBody = Buffer(count: shape.rowsTimesWidth)
        dBodyInput = Buffer(count: shape.rowsTimesWidth)
        dScaled = Buffer(count: shape.rowsTimesWidth)
        dqkv = Buffer(count: N * shape.qkvWidth)
        dContext = Buffer(count: shape.rowsTimesWidth)
        dGateUp = Buffer(count: precision == .bf16 ? 0 : N * 2 * shape.intermediate)
        dHidden = Buffer(count: N * shape.intermediate)
        dOutCopy = bfloat16Copy(N * max(shape.qkvWidth, 2 * shape.intermediate), precision)
    }

    var elementCount: Int {
        [dStreamOut, dStreamIn, dResidual, dBody, dBodyInput, dScaled, dqkv, dContext, dGateUp, dHidden].reduce(0) { $0 + $1.count }
    }

    /// bf16 values in the copies (0 in fp32).
    var copyCount: Int { dOutCopy?.count ?? 0 }
}
