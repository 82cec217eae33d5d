import MixLNTensor

// Dimensions: B batch, T tokens, N = B·T, C channels, I intermediate, H heads, D head size, V vocabulary, L layers.

/// A LLaMA decoder whose normalization placement is a `NormPlan`, with its gradients.
///
/// All parameters live in one flat buffer (`parameters`, laid out by `layout`), gradients in a
/// second of the same shape. `forward` saves what `backward` needs; `backward` accumulates into
/// `gradients`; `zeroGradients` clears them. Activations are allocated once per (B, T) shape.
///
/// A model loaded with `WeightPrecision.bf16` keeps its checkpoint's bfloat16 weights instead
/// (`parameters` and `gradients` are then empty) and can only run forward. The forward reads every
/// weight through `weights(_:count:)`, which hides the difference.
public final class Transformer<T: TensorScalar> {
    public let config: ModelConfig
    public let plan: NormPlan
    public let layout: ParameterLayout
    public let parameters: Buffer<T>  // (P) every weight, official tensors at `layout` offsets; (0) with bf16 weights
    /// (P); (0) with bf16 weights. Allocated on first use, so a model that only runs forward
    /// (evaluation, analyses, generation) never holds a gradient buffer.
    public private(set) lazy var gradients: Buffer<T> = Buffer(count: bfloat16 == nil ? layout.count : 0)
    /// The weights when they are kept in bfloat16 (nil: they are `parameters`).
    let bfloat16: BFloat16Weights<T>?
    /// Decoder layers bypassed in forward and backward (layer-removal analysis); their weights stay.
    public var skippedLayers: Set<Int> = []
    let rope: Rope<T>
    var activations: Activations<T>?

    /// A model with fp32 weights (all zero until `initializeWeights` or a load) and gradients.
    public convenience init(config: ModelConfig, plan: NormPlan) throws {
        try self.init(config: config, plan: plan, bfloat16: nil)
    }

    /// A model whose weights are `bfloat16` (forward only), or `parameters` when it is nil.
    init(config: ModelConfig, plan: NormPlan, bfloat16: BFloat16Weights<T>?) throws {
        try config.validate()
        try plan.validate(layerCount: config.numHiddenLayers)
        self.config = config
        self.plan = plan
        layout = ParameterLayout(config: config, plan: plan)
        self.bfloat16 = bfloat16
        parameters = Buffer(count: bfloat16 == nil ? layout.count : 0)
        rope = Rope(headDim: config.headDim, maxPositions: config.maxSequenceLength, base: config.ropeTheta)
    }

    /// Number of parameters.
    public var parameterCount: Int { layout.count }

    /// How the weights are held: in `parameters` (fp32, trainable) or as bfloat16 (forward only).
    public var weightPrecision: WeightPrecision { bfloat16 == nil ? .fp32 : .bf16 }

    /// The weights at layout positions `offset..<offset+count`, as `T`.
    ///
    /// fp32: a view of `parameters`. bf16: a norm weight from its copy widened at load, or a matrix
    /// widened into the one scratch buffer, valid until the next matrix is asked for (the forward
    /// uses each matrix in one call before asking for the next).
    func weights(_ offset: Int, count: Int) -> UnsafePointer<T> {
        guard let bfloat16 else { return UnsafePointer(parameters.pointer + offset) }
        return bfloat16.weights(offset, count: count)
    }

    /// `out[n]` = the embedding of `tokens[n]`, read from whichever storage holds the table.
    /// - Parameters: out (N, C), tokens (N)
    func embed(out: UnsafeMutablePointer<T>, tokens: UnsafePointer<Int32>, rows N: Int) {
        let C = config.hiddenSize
        if let bfloat16 {
            Embedding.forward(out: out, tokens: tokens, bfloat16Table: bfloat16.bits(at: layout.embedding), rows: N, channels: C)
        } else {
            Embedding.forward(out: out, tokens: tokens, table: parameters.pointer + layout.embedding, rows: N, channels: C)
        }
    }

    /// Official init: linear weights N(0, initializer_range · gain of the plan's init rule), embedding
    /// N(0, √(2/5)) with the padding row zero, norm weights 1. Reproducible for a seed.
    public func initializeWeights(seed: UInt64) {
        precondition(bfloat16 == nil, "initializeWeights needs fp32 weights")
        var rng = RandomSource(seed: seed)
        let std = config.initializerRange
        for tensor in layout.tensors {
            let p = parameters.pointer + tensor.offset
            let layerInit = tensor.layer.map { plan.layers[$0].initialization } ?? LayerInit()
            switch tensor.role {
            case .embedding:
                rng.fillNormal(p, count: tensor.count, std: ModelConfig.embeddingInitStd)
                if let row = config.embeddingPaddingRow {
                    (p + row * config.hiddenSize).update(repeating: 0, count: config.hiddenSize)
                }
            case .embeddingNorm, .layerNorm, .finalNorm:
                p.update(repeating: 1, count: tensor.count)
            case .query, .key: rng.fillNormal(p, count: tensor.count, std: std * layerInit.queryKey)
            case .value: rng.fillNormal(p, count: tensor.count, std: std * layerInit.value)
            case .attentionOutput: rng.fillNormal(p, count: tensor.count, std: std * layerInit.outputProjection)
            case .gate, .up: rng.fillNormal(p, count: tensor.count, std: std * layerInit.gateUp)
            case .down: rng.fillNormal(p, count: tensor.count, std: std * layerInit.downProjection)
            case .lmHead: rng.fillNormal(p, count: tensor.count, std: std)
            }
        }
    }

    /// Clears the accumulated gradients.
    public func zeroGradients() { gradients.zero() }

    func activations(batch: Int, seqLen: Int) -> Activations<T> {
        if let a = activations, a.batch == batch, a.seqLen == seqLen { return a }
        activations = nil  // free the old shape first
        let a = Activations<T>(config: config, plan: plan, batch: batch, seqLen: seqLen)
        activations = a
        return a
    }

    /// Frees the activation buffers (they are rebuilt on the next forward).
    public func releaseActivations() { activations = nil }

    // MARK: - Forward

    /// Runs the model on `tokens` (B, T) and returns the mean cross-entropy over the targets that
    /// are not `CrossEntropy.ignoreIndex` (nan when there are none).
    /// - Parameters: tokens (B·T) input ids, targets (B·T) next-token ids or ignore
    @discardableResult
    public func forward(tokens: [Int32], targets: [Int32], batch B: Int, seqLen T_: Int) throws -> Double {
        let N = B * T_, C = config.hiddenSize, V = config.vocabSize
        guard T_ <= config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: T_, maximum: config.maxSequenceLength)
        }
        precondition(tokens.count == N && targets.count == N, "tokens and targets must hold batch·seqLen ids")
        for id in tokens where id < 0 || Int(id) >= V { throw ModelError.tokenOutOfRange(token: Int(id), vocabSize: V) }
        for id in targets where id != CrossEntropy.ignoreIndex && (id < 0 || Int(id) >= V) {
            throw ModelError.tokenOutOfRange(token: Int(id), vocabSize: V)
        }
        let a = activations(batch: B, seqLen: T_)
        a.tokens = tokens
        a.targets = targets
        let eps = T(config.rmsNormEps)

        a.tokens.withUnsafeBufferPointer { ids in
            embed(out: (a.embedded ?? a.streams[0]).pointer, tokens: ids.baseAddress!, rows: N)
        }
        if let embedded = a.embedded, let rstd = a.embeddedRstd, let normWeight = layout.embeddingNorm {
            RMSNorm.forward(out: a.streams[0].pointer, rstd: rstd.pointer, inp: embedded.pointer,
                            weight: weights(normWeight, count: C), rows: N, channels: C, eps: eps)
        }
        for l in 0..<config.numHiddenLayers {
            let x = a.streams[2 * l], mid = a.streams[2 * l + 1], y = a.streams[2 * l + 2]
            if skippedLayers.contains(l) {
                y.pointer.update(from: x.pointer, count: N * C)
                continue
            }
            let acts = a.layers[l], offsets = layout.layers[l], norms = plan.layers[l]
            sublayerForward(norms.attention, acts.attention, rows: N, x: x.pointer, y: mid.pointer,
                            inputNorm: offsets.attentionInputNorm, outputNorm: offsets.attentionOutputNorm,
                            postNorm: offsets.attentionPostNorm) { u, f in
                attentionForward(acts, offsets, a, u: u, f: f)
            }
            sublayerForward(norms.mlp, acts.mlp, rows: N, x: mid.pointer, y: y.pointer,
                            inputNorm: offsets.mlpInputNorm, outputNorm: offsets.mlpOutputNorm,
                            postNorm: offsets.mlpPostNorm) { u, f in
                mlpForward(acts, offsets, rows: N, u: u, f: f)
            }
        }
        RMSNorm.forward(out: a.finalNormed.pointer, rstd: a.finalRstd.pointer, inp: a.streams[2 * config.numHiddenLayers].pointer,
                        weight: weights(layout.finalNorm, count: C), rows: N, channels: C, eps: eps)
        Linear.forward(out: a.logits.pointer, inp: a.finalNormed.pointer, weight: weights(layout.lmHead, count: V * C),
                       rows: N, inChannels: C, outChannels: V)
        let (lossSum, count) = a.targets.withUnsafeBufferPointer { t in
            CrossEntropy.forward(logits: a.logits.pointer, targets: t.baseAddress!, rows: N, vocab: V)
        }
        a.lossSum = lossSum
        a.predictedCount = count
        return count > 0 ? lossSum / Double(count) : .nan
    }

    /// Number of targets the last forward averaged over.
    public var lastPredictedCount: Int { activations?.predictedCount ?? 0 }

    /// One sublayer as the plan places its norms:
    /// `u = N_in(x)·s | x`, `f = F(u)`, `g = N_out(f) | f`, `r = α·x + g`, `y = N_post(r) | r`.
    /// - Parameters: x (N, C) sublayer input, y (N, C) sublayer output
    func sublayerForward(
        _ norms: SublayerNorms, _ acts: SublayerActivations<T>, rows N: Int, x: UnsafeMutablePointer<T>, y: UnsafeMutablePointer<T>,
        inputNorm: Int?, outputNorm: Int?, postNorm: Int?,
        body: (_ u: UnsafeMutablePointer<T>, _ f: UnsafeMutablePointer<T>) -> Void
    ) {
        let C = config.hiddenSize, eps = T(config.rmsNormEps)
        var u = x
        if let normed = acts.inputNormed, let rstd = acts.inputRstd, let weight = inputNorm {
            RMSNorm.forward(out: normed.pointer, rstd: rstd.pointer, inp: x, weight: weights(weight, count: C),
                            rows: N, channels: C, eps: eps, scale: T(norms.inputNormScale))
            u = normed.pointer
        }
        body(u, acts.body.pointer)
        var g = acts.body.pointer
        if let normed = acts.outputNormed, let rstd = acts.outputRstd, let weight = outputNorm {
            RMSNorm.forward(out: normed.pointer, rstd: rstd.pointer, inp: g, weight: weights(weight, count: C),
                            rows: N, channels: C, eps: eps)
            g = normed.pointer
        }
        let r = acts.residual?.pointer ?? y
        VectorMath.scaledAdd(r, T(norms.residualScale), x, g, N * C)
        if let rstd = acts.postRstd, let weight = postNorm {
            RMSNorm.forward(out: y, rstd: rstd.pointer, inp: r, weight: weights(weight, count: C), rows: N, channels: C, eps: eps)
        }
    }

    /// Attention body: `f = o_proj(attention(rope(q), rope(k), v))` with `q, k, v = qkv_proj(u)`.
    /// - Parameters: u (N, C), f (N, C)
    private func attentionForward(_ acts: LayerActivations<T>, _ o: LayerOffsets, _ a: Activations<T>,
                                  u: UnsafeMutablePointer<T>, f: UnsafeMutablePointer<T>) {
        let B = a.batch, T_ = a.seqLen, N = B * T_, C = config.hiddenSize, H = config.numAttentionHeads, D = config.headDim
        let G = config.numKeyValueHeads, W = C + 2 * config.keyValueSize
        let qkv = acts.qkv.pointer
        Linear.forward(out: qkv, inp: u, weight: weights(o.qkv, count: W * C), rows: N, inChannels: C, outChannels: W)
        rope.forward(qkv, batch: B, seqLen: T_, heads: H, rowStride: W)
        rope.forward(qkv + C, batch: B, seqLen: T_, heads: G, rowStride: W)
        CausalAttention.forward(out: acts.context.pointer, probs: acts.probs.pointer, qkv: qkv,
                                batch: B, seqLen: T_, heads: H, kvHeads: G, headDim: D)
        Linear.forward(out: f, inp: acts.context.pointer, weight: weights(o.attentionOutput, count: C * C),
                       rows: N, inChannels: C, outChannels: C)
    }

    /// MLP body: `f = down(silu(gate(u)) ⊙ up(u))`.
    /// - Parameters: u (N, C), f (N, C)
    func mlpForward(_ acts: LayerActivations<T>, _ o: LayerOffsets, rows N: Int,
                            u: UnsafeMutablePointer<T>, f: UnsafeMutablePointer<T>) {
        let C = config.hiddenSize, I = config.intermediateSize
        Linear.forward(out: acts.gateUp.pointer, inp: u, weight: weights(o.gateUp, count: 2 * I * C), rows: N, inChannels: C, outChannels: 2 * I)
        SwiGLU.forward(out: acts.hidden.pointer, gateUp: acts.gateUp.pointer, rows: N, intermediate: I)
        Linear.forward(out: f, inp: acts.hidden.pointer, weight: weights(o.down, count: C * I), rows: N, inChannels: I, outChannels: C)
    }

    // MARK: - Backward (the forward read bottom-up)

    /// Accumulates into `gradients` the gradient of `lossScale × (mean loss of the last forward)`.
    /// Needs fp32 weights (a bf16 model has no gradients).
    public func backward(lossScale: T = 1) {
        precondition(bfloat16 == nil, "backward needs fp32 weights; this model keeps bf16 weights for forward only")
        guard let a = activations else { preconditionFailure("backward needs a forward first") }
        guard a.predictedCount > 0 else { return }
        let N = a.rows, C = config.hiddenSize, V = config.vocabSize
        let w = parameters.pointer, g = gradients.pointer

        a.targets.withUnsafeBufferPointer { t in
            CrossEntropy.backward(probs: a.logits.pointer, targets: t.baseAddress!, rows: N, vocab: V,
                                  dLoss: lossScale / T(a.predictedCount))
        }
        Linear.backward(dInp: a.dBody.pointer, dWeight: g + layout.lmHead, dOut: a.logits.pointer,
                        inp: a.finalNormed.pointer, weight: w + layout.lmHead,
                        rows: N, inChannels: C, outChannels: V, accumulateInput: false)
        var dOut = a.dStreamOut, dIn = a.dStreamIn
        dOut.zero()
        RMSNorm.backward(dInp: dOut.pointer, dWeight: g + layout.finalNorm, dOut: a.dBody.pointer,
                         inp: a.streams[2 * config.numHiddenLayers].pointer, weight: w + layout.finalNorm,
                         rstd: a.finalRstd.pointer, rows: N, channels: C)
        for l in stride(from: config.numHiddenLayers - 1, through: 0, by: -1) where !skippedLayers.contains(l) {
            let acts = a.layers[l], offsets = layout.layers[l], norms = plan.layers[l]
            sublayerBackward(norms.mlp, acts.mlp, x: a.streams[2 * l + 1].pointer,
                             dY: dOut.pointer, dX: dIn.pointer,
                             inputNorm: offsets.mlpInputNorm, outputNorm: offsets.mlpOutputNorm,
                             postNorm: offsets.mlpPostNorm) { u, dF, dU in
                mlpBackward(acts, offsets, a, u: u, dF: dF, dU: dU)
            }
            swap(&dOut, &dIn)
            sublayerBackward(norms.attention, acts.attention, x: a.streams[2 * l].pointer,
                             dY: dOut.pointer, dX: dIn.pointer,
                             inputNorm: offsets.attentionInputNorm, outputNorm: offsets.attentionOutputNorm,
                             postNorm: offsets.attentionPostNorm) { u, dF, dU in
                attentionBackward(acts, offsets, a, u: u, dF: dF, dU: dU)
            }
            swap(&dOut, &dIn)
        }
        var dEmbedded = dOut.pointer
        if let embedded = a.embedded, let rstd = a.embeddedRstd, let normWeight = layout.embeddingNorm {
            dIn.zero()
            RMSNorm.backward(dInp: dIn.pointer, dWeight: g + normWeight, dOut: dOut.pointer, inp: embedded.pointer,
                             weight: w + normWeight, rstd: rstd.pointer, rows: N, channels: C)
            dEmbedded = dIn.pointer
        }
        a.tokens.withUnsafeBufferPointer { ids in
            Embedding.backward(dTable: g + layout.embedding, dOut: dEmbedded, tokens: ids.baseAddress!,
                               rows: N, channels: C, frozenRow: config.embeddingPaddingRow)
        }
    }

    /// Backward of `sublayerForward`: writes `dX` from `dY`, accumulating the norm weights' gradients.
    /// - Parameters: x (N, C) the forward's input; dY, dX (N, C)
    private func sublayerBackward(
        _ norms: SublayerNorms, _ acts: SublayerActivations<T>, x: UnsafeMutablePointer<T>,
        dY: UnsafeMutablePointer<T>, dX: UnsafeMutablePointer<T>,
        inputNorm: Int?, outputNorm: Int?, postNorm: Int?,
        body: (_ u: UnsafeMutablePointer<T>, _ dF: UnsafeMutablePointer<T>, _ dU: UnsafeMutablePointer<T>) -> Void
    ) {
        let a = activations!, N = a.rows, C = config.hiddenSize, w = parameters.pointer, g = gradients.pointer
        // y = N_post(r)
        var dR = dY
        if let rstd = acts.postRstd, let weight = postNorm, let r = acts.residual {
            a.dResidual.zero()
            RMSNorm.backward(dInp: a.dResidual.pointer, dWeight: g + weight, dOut: dY, inp: r.pointer,
                             weight: w + weight, rstd: rstd.pointer, rows: N, channels: C)
            dR = a.dResidual.pointer
        }
        // r = α·x + g
        dX.update(repeating: 0, count: N * C)
        VectorMath.axpy(T(norms.residualScale), dR, dX, N * C)
        // g = N_out(f)
        var dF = dR
        if let rstd = acts.outputRstd, let weight = outputNorm {
            a.dBody.zero()
            RMSNorm.backward(dInp: a.dBody.pointer, dWeight: g + weight, dOut: dR, inp: acts.body.pointer,
                             weight: w + weight, rstd: rstd.pointer, rows: N, channels: C)
            dF = a.dBody.pointer
        }
        // f = F(u)
        let u = acts.inputNormed?.pointer ?? x
        body(u, dF, a.dBodyInput.pointer)
        // u = N_in(x)·s
        if let rstd = acts.inputRstd, let weight = inputNorm {
            RMSNorm.backward(dInp: dX, dWeight: g + weight, dOut: a.dBodyInput.pointer, inp: x, weight: w + weight,
                             rstd: rstd.pointer, rows: N, channels: C, scale: T(norms.inputNormScale))
        } else {
            VectorMath.axpy(1, a.dBodyInput.pointer, dX, N * C)
        }
    }

    /// Backward of `attentionForward`: writes `dU` (N, C) from `dF` (N, C).
    private func attentionBackward(_ acts: LayerActivations<T>, _ o: LayerOffsets, _ a: Activations<T>,
                                   u: UnsafeMutablePointer<T>, dF: UnsafeMutablePointer<T>, dU: UnsafeMutablePointer<T>) {
        let B = a.batch, T_ = a.seqLen, N = B * T_, C = config.hiddenSize, H = config.numAttentionHeads, D = config.headDim
        let w = parameters.pointer, g = gradients.pointer
        Linear.backward(dInp: a.dContext.pointer, dWeight: g + o.attentionOutput, dOut: dF, inp: acts.context.pointer,
                        weight: w + o.attentionOutput, rows: N, inChannels: C, outChannels: C, accumulateInput: false)
        let G = config.numKeyValueHeads, W = C + 2 * config.keyValueSize
        CausalAttention.backward(dqkv: a.dqkv.pointer, dProbs: a.dProbs.pointer, dOut: a.dContext.pointer,
                                 qkv: acts.qkv.pointer, probs: acts.probs.pointer, batch: B, seqLen: T_, heads: H, kvHeads: G, headDim: D)
        rope.backward(a.dqkv.pointer, batch: B, seqLen: T_, heads: H, rowStride: W)
        rope.backward(a.dqkv.pointer + C, batch: B, seqLen: T_, heads: G, rowStride: W)
        Linear.backward(dInp: dU, dWeight: g + o.qkv, dOut: a.dqkv.pointer, inp: u, weight: w + o.qkv,
                        rows: N, inChannels: C, outChannels: W, accumulateInput: false)
    }

    /// Backward of `mlpForward`: writes `dU` (N, C) from `dF` (N, C).
    private func mlpBackward(_ acts: LayerActivations<T>, _ o: LayerOffsets, _ a: Activations<T>,
                             u: UnsafeMutablePointer<T>, dF: UnsafeMutablePointer<T>, dU: UnsafeMutablePointer<T>) {
        let N = a.rows, C = config.hiddenSize, I = config.intermediateSize
        let w = parameters.pointer, g = gradients.pointer
        Linear.backward(dInp: a.dHidden.pointer, dWeight: g + o.down, dOut: dF, inp: acts.hidden.pointer,
                        weight: w + o.down, rows: N, inChannels: I, outChannels: C, accumulateInput: false)
        SwiGLU.backward(dGateUp: a.dGateUp.pointer, dOut: a.dHidden.pointer, gateUp: acts.gateUp.pointer, rows: N, intermediate: I)
        Linear.backward(dInp: dU, dWeight: g + o.gateUp, dOut: a.dGateUp.pointer, inp: u, weight: w + o.gateUp,
                        rows: N, inChannels: C, outChannels: 2 * I, accumulateInput: false)
    }
}

extension Transformer {
    /// The residual stream entering decoder layer `l` in the last forward, (B·T, C); `l = L` is the
    /// last layer's output before the final norm.
    public func layerInput(_ l: Int) -> UnsafeMutablePointer<T> {
        guard let a = activations else { preconditionFailure("layerInput needs a forward first") }
        return a.streams[2 * l].pointer
    }
}

/// One of a decoder layer's two sublayers.
public enum Sublayer: String, CaseIterable, Sendable {
    case attention, mlp
}

extension Transformer {
    /// The sublayer body's output `f = F(u)` of decoder layer `l` in the last forward, (B·T, C):
    /// attention after `o_proj`, MLP after `down_proj`, before any output norm.
    public func sublayerBody(_ l: Int, _ sublayer: Sublayer) -> UnsafeMutablePointer<T> {
        sublayerActivations(l, sublayer).body.pointer
    }

    /// What the sublayer of layer `l` added to the residual stream in the last forward, (B·T, C):
    /// `N_out(f)` where the plan places an output norm, else `f` (the skip path's α is not included).
    public func sublayerUpdate(_ l: Int, _ sublayer: Sublayer) -> UnsafeMutablePointer<T> {
        let acts = sublayerActivations(l, sublayer)
        return (acts.outputNormed ?? acts.body).pointer
    }

    /// The residual stream entering the MLP of decoder layer `l` in the last forward, (B·T, C).
    public func mlpInput(_ l: Int) -> UnsafeMutablePointer<T> {
        guard let a = activations else { preconditionFailure("mlpInput needs a forward first") }
        return a.streams[2 * l + 1].pointer
    }

    private func sublayerActivations(_ l: Int, _ sublayer: Sublayer) -> SublayerActivations<T> {
        guard let a = activations else { preconditionFailure("sublayer buffers need a forward first") }
        precondition(!skippedLayers.contains(l), "layer \(l) was skipped in the last forward; its sublayer buffers are stale")
        switch sublayer {
        case .attention: return a.layers[l].attention
        case .mlp: return a.layers[l].mlp
        }
    }
}
