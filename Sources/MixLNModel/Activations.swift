import MixLNTensor

// Dimensions: B batch, T tokens, N = B·T, C channels, I intermediate, H heads, V vocabulary, L layers.

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

    init(norms: SublayerNorms, rows N: Int, channels C: Int) {
        inputNormed = norms.inputNorm ? Buffer(count: N * C) : nil
        inputRstd = norms.inputNorm ? Buffer(count: N) : nil
        body = Buffer(count: N * C)
        outputNormed = norms.outputNorm ? Buffer(count: N * C) : nil
        outputRstd = norms.outputNorm ? Buffer(count: N) : nil
        residual = norms.postNorm ? Buffer(count: N * C) : nil
        postRstd = norms.postNorm ? Buffer(count: N) : nil
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

    init(norms: LayerNorms, batch B: Int, seqLen T_: Int, config: ModelConfig) {
        let N = B * T_, C = config.hiddenSize, I = config.intermediateSize
        attention = SublayerActivations(norms: norms.attention, rows: N, channels: C)
        mlp = SublayerActivations(norms: norms.mlp, rows: N, channels: C)
        qkv = Buffer(count: N * (C + 2 * config.keyValueSize))
        probs = Buffer(count: B * config.numAttentionHeads * T_ * T_)
        context = Buffer(count: N * C)
        gateUp = Buffer(count: N * 2 * I)
        hidden = Buffer(count: N * I)
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
    var lossSum: Double = 0
    var predictedCount: Int = 0

    // Backward scratch, allocated by the first backward (a forward-only model never needs it).
    private let rowsTimesWidth: Int, qkvWidth: Int, probsCount: Int, intermediate: Int
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

    init(config: ModelConfig, plan: NormPlan, batch B: Int, seqLen T_: Int) {
        batch = B
        seqLen = T_
        let N = B * T_, C = config.hiddenSize, I = config.intermediateSize, V = config.vocabSize
        let H = config.numAttentionHeads, L = config.numHiddenLayers
        tokens = Array(repeating: 0, count: N)
        targets = Array(repeating: CrossEntropy.ignoreIndex, count: N)
        embedded = plan.embeddingNorm ? Buffer(count: N * C) : nil
        embeddedRstd = plan.embeddingNorm ? Buffer(count: N) : nil
        streams = (0...(2 * L)).map { _ in Buffer(count: N * C) }
        layers = plan.layers.map { LayerActivations(norms: $0, batch: B, seqLen: T_, config: config) }
        finalNormed = Buffer(count: N * C)
        finalRstd = Buffer(count: N)
        logits = Buffer(count: N * V)
        rowsTimesWidth = N * C
        qkvWidth = C + 2 * config.keyValueSize
        probsCount = B * H * T_ * T_
        intermediate = I
    }
}
