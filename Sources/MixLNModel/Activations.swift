import MixLNTensor

// Dimensions: B batch, T tokens, N = B·T, C channels, I intermediate, H heads, V vocabulary, L layers,
// W = C + 2K the width of a fused qkv row.
//
// In `MatmulPrecision.bf16` every matrix a GEMM reads has a bf16 copy beside it (the `…Copy`
// buffers, nil in fp32): made once when the matrix is computed and read by every product that
// uses it, forward and backward. The fp32 values stay for the fp32 ops (norms, softmax, SwiGLU,
// the residual stream) and for the analyses that read them.

/// `BFloat16Buffer(count:)` in bf16, nil in fp32: the one place the precision decides an allocation.
func bfloat16Copy(_ count: Int, _ precision: MatmulPrecision) -> BFloat16Buffer? {
    precision == .bf16 ? BFloat16Buffer(count: count) : nil
}

/// What one sublayer's forward saves for its backward. Optional buffers exist only where the plan
/// places the matching norm.
final class SublayerActivations<T: TensorScalar> {
    let inputNormed: Buffer<T>?   // (N, C) N_in(x)·s, the sublayer body's input u
    let inputRstd: Buffer<T>?     // (N)
    let body: Buffer<T>           // (N, C) f = F(u)
    let outputNormed: Buffer<T>?  // (N, C) N_out(f)
    let outputRstd: Buffer<T>?    // (N)
    let residual: Buffer<T>?      // (N, C) r = α·x + g, kept only when a post norm follows
    let postRstd: Buffer<T>?      // (N)
    let bodyInputCopy: BFloat16Buffer?  // (N, C) u in bf16

    init(norms: SublayerNorms, rows N: Int, channels C: Int, precision: MatmulPrecision) {
        inputNormed = norms.inputNorm ? Buffer(count: N * C) : nil
        inputRstd = norms.inputNorm ? Buffer(count: N) : nil
        body = Buffer(count: N * C)
        outputNormed = norms.outputNorm ? Buffer(count: N * C) : nil
        outputRstd = norms.outputNorm ? Buffer(count: N) : nil
        residual = norms.postNorm ? Buffer(count: N * C) : nil
        postRstd = norms.postNorm ? Buffer(count: N) : nil
        bodyInputCopy = bfloat16Copy(N * C, precision)
    }
}

/// One decoder layer's saved activations.
final class LayerActivations<T: TensorScalar> {
    let attention: SublayerActivations<T>
    let mlp: SublayerActivations<T>
    let qkv: Buffer<T>      // (N, C + 2K) after RoPE on q and k
    let probs: Buffer<T>    // (B, H, T, T)
    let context: Buffer<T>  // (N, C) attention output before o_proj
    let gateUp: Buffer<T>   // (N, 2I)
    let hidden: Buffer<T>   // (N, I) silu(gate)·up
    let qkvCopy: BFloat16Buffer?      // (N, W)
    let probsCopy: BFloat16Buffer?    // (B, H, T, T)
    let contextCopy: BFloat16Buffer?  // (N, C)
    let hiddenCopy: BFloat16Buffer?   // (N, I)

    init(norms: LayerNorms, batch B: Int, seqLen T_: Int, config: ModelConfig, precision: MatmulPrecision) {
        let N = B * T_, C = config.hiddenSize, I = config.intermediateSize, W = C + 2 * config.keyValueSize
        let P = B * config.numAttentionHeads * T_ * T_
        attention = SublayerActivations(norms: norms.attention, rows: N, channels: C, precision: precision)
        mlp = SublayerActivations(norms: norms.mlp, rows: N, channels: C, precision: precision)
        qkv = Buffer(count: N * W)
        probs = Buffer(count: P)
        context = Buffer(count: N * C)
        gateUp = Buffer(count: N * 2 * I)
        hidden = Buffer(count: N * I)
        qkvCopy = bfloat16Copy(N * W, precision)
        probsCopy = bfloat16Copy(P, precision)
        contextCopy = bfloat16Copy(N * C, precision)
        hiddenCopy = bfloat16Copy(N * I, precision)
    }
}

/// All activations and backward scratch for one (batch, seqLen) shape, allocated once.
final class Activations<T: TensorScalar> {
    let batch: Int
    let seqLen: Int
    var rows: Int { batch * seqLen }
    var tokens: [Int32]   // (N)
    var targets: [Int32]  // (N)
    let embedded: Buffer<T>?   // (N, C) raw embedding when an embedding norm follows
    let embeddedRstd: Buffer<T>?  // (N)
    /// The residual stream: `streams[2l]` enters layer l's attention, `streams[2l+1]` its MLP,
    /// `streams[2L]` leaves the last layer.
    let streams: [Buffer<T>]   // (2L+1) × (N, C)
    let layers: [LayerActivations<T>]
    let finalNormed: Buffer<T> // (N, C)
    let finalRstd: Buffer<T>   // (N)
    let logits: Buffer<T>      // (N, V) logits → probabilities → dLogits
    let finalNormedCopy: BFloat16Buffer?  // (N, C)
    var lossSum: Double = 0
    var predictedCount: Int = 0

    // Backward scratch, allocated by the first backward (a forward-only model never needs it).
    private let rowsTimesWidth: Int, qkvWidth: Int, probsCount: Int, intermediate: Int, vocabulary: Int
    private let precision: MatmulPrecision
    lazy var dStreamOut = Buffer<T>(count: rowsTimesWidth)   // (N, C)
    lazy var dStreamIn = Buffer<T>(count: rowsTimesWidth)    // (N, C)
    lazy var dResidual = Buffer<T>(count: rowsTimesWidth)    // (N, C)
    lazy var dBody = Buffer<T>(count: rowsTimesWidth)        // (N, C)
    lazy var dBodyInput = Buffer<T>(count: rowsTimesWidth)   // (N, C)
    lazy var dqkv = Buffer<T>(count: rows * qkvWidth)        // (N, C + 2K)
    lazy var dContext = Buffer<T>(count: rowsTimesWidth)     // (N, C)
    lazy var dProbs = Buffer<T>(count: probsCount)           // (B, H, T, T)
    lazy var dGateUp = Buffer<T>(count: rows * 2 * intermediate)  // (N, 2I)
    lazy var dHidden = Buffer<T>(count: rows * intermediate)      // (N, I)
    /// (N, max(V, W, 2I)) the output gradient of the Linear being differentiated, in bf16.
    lazy var dOutCopy = bfloat16Copy(rows * max(vocabulary, qkvWidth, 2 * intermediate), precision)
    lazy var dProbsCopy = bfloat16Copy(probsCount, precision)     // (B, H, T, T)

    init(config: ModelConfig, plan: NormPlan, batch B: Int, seqLen T_: Int, precision: MatmulPrecision) {
        batch = B
        seqLen = T_
        let N = B * T_, C = config.hiddenSize, I = config.intermediateSize, V = config.vocabSize
        let H = config.numAttentionHeads, L = config.numHiddenLayers
        tokens = Array(repeating: 0, count: N)
        targets = Array(repeating: CrossEntropy.ignoreIndex, count: N)
        embedded = plan.embeddingNorm ? Buffer(count: N * C) : nil
        embeddedRstd = plan.embeddingNorm ? Buffer(count: N) : nil
        streams = (0...(2 * L)).map { _ in Buffer(count: N * C) }
        layers = plan.layers.map { LayerActivations(norms: $0, batch: B, seqLen: T_, config: config, precision: precision) }
        finalNormed = Buffer(count: N * C)
        finalRstd = Buffer(count: N)
        logits = Buffer(count: N * V)
        finalNormedCopy = bfloat16Copy(N * C, precision)
        rowsTimesWidth = N * C
        qkvWidth = C + 2 * config.keyValueSize
        probsCount = B * H * T_ * T_
        intermediate = I
        vocabulary = V
        self.precision = precision
    }
}
