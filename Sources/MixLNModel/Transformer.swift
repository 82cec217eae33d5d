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
///
/// `matmulPrecision` decides how every matrix product is computed, forward and backward alike:
/// fp32, or bf16 inputs with fp32 sums (mixed precision). In bf16 the GEMMs read a bf16 copy of
/// the weight matrices, rebuilt from `parameters` at the first forward after `parametersDidChange()`
/// (once per optimizer step), and bf16 copies of the activations, each made once; norms, softmax,
/// the residual stream, the loss and all gradients stay in `T`.
public final class Transformer<T: TensorScalar> {
    public let config: ModelConfig
    public let plan: NormPlan
    public let layout: ParameterLayout
    public let parameters: Buffer<T>  // (P) every weight, official tensors at `layout` offsets; (0) with bf16 weights
    /// (P); (0) with bf16 weights. Allocated on first use, so a model that only runs forward
    /// (evaluation, analyses, generation) never holds a gradient buffer.
    public var gradients: Buffer<T> {
        assert(!Parallel.isInLoopBody, "gradients asked for inside a parallel loop; read the pointer before the loop")
        if let gradientStorage { return gradientStorage }
        let buffer = Buffer<T>(count: bfloat16 == nil ? layout.count : 0)
        gradientStorage = buffer
        return buffer
    }
    private var gradientStorage: Buffer<T>?
    /// The weights when they are kept in bfloat16 (nil: they are `parameters`).
    let bfloat16: BFloat16Weights<T>?
    /// Decoder layers bypassed in forward and backward (layer-removal analysis); their weights stay.
    public var skippedLayers: Set<Int> = []
    /// Called after each decoder layer a forward computes (skipped layers are not), with views of
    /// its buffers that are valid during the call only. Nil by default.
    public var onLayer: ((LayerPass<T>) -> Void)?
    /// Whether a residual add computes the RMSNorm that reads its result (the next sublayer's input
    /// norm) in the same pass (`RMSNorm.forwardAfterResidualAdd`); on by default. Off, the add and
    /// the norm run one after the other: the same operations per row, so the same bits (for tests
    /// and profiles).
    public var fusesResidualNorm = true
    let rope: Rope<T>
    var activations: Activations<T>?
    /// Logits per LM-head chunk of a forward-only pass (floats, 32 MB by default): the head runs on
    /// this / V rows at a time, so the (B·T, V) logits buffer never exists whole.
    var headChunkElements = 1 << 23
    /// Logits per LM-head chunk of a forward a backward can follow (floats, 64 MB by default). Each
    /// chunk of a training forward reads the head's weight twice more and adds into its (V, C)
    /// gradient, so fewer, larger chunks move less memory: on 20m (batch 8 × 256) 524-row chunks
    /// took about 3% less CPU time than 262-row ones.
    var trainingHeadChunkElements = 1 << 24

    /// How the matrix products are computed. Changing it frees the activations and the weight copy.
    public var matmulPrecision: MatmulPrecision = .fp32 {
        didSet {
            guard matmulPrecision != oldValue else { return }
            activations = nil
            weightCopy = nil
        }
    }
    /// The bf16 copy of the weight matrices (bf16 precision with fp32 weights), made at the first forward.
    private var weightCopy: MatmulWeightCopy<T>?

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
        rope = Rope(headDim: config.headDim, maxPositions: config.maxSequenceLength, inverseFrequencies: config.ropeInverseFrequencies)
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

    /// The weight matrix at layout positions `offset..<offset+count` as the GEMMs read it: fp32 values
    /// (`weights`), or in bf16 the weight copy, or a bf16 checkpoint's own bits (never widened).
    func matmulWeight(_ offset: Int, count: Int) -> GemmOperand<T> {
        switch matmulPrecision {
        case .fp32:
            return .values(weights(offset, count: count))
        case .bf16:
            if let bfloat16 { return .bfloat16(bfloat16.contiguousBits(offset, count: count)) }
            guard let weightCopy else { preconditionFailure("prepareMatmulWeights() makes the bf16 weight copy before a forward") }
            return .bfloat16(weightCopy.bits(at: offset))
        }
    }

    /// Tells the model that `parameters` were written (an optimizer step, a restore): in bf16
    /// precision the weight copy is rebuilt before the next forward. Every writer of `parameters`
    /// calls it; debug builds check that none forgot.
    public func parametersDidChange() { weightCopy?.invalidate() }

    /// Brings the bf16 weight copy up to date with `parameters` (see `MatmulWeightCopy`); a no-op
    /// in fp32 and for bf16 checkpoint weights (read in place).
    func prepareMatmulWeights() {
        guard matmulPrecision == .bf16, bfloat16 == nil else { return }
        let copy = weightCopy ?? MatmulWeightCopy<T>(layout: layout)
        weightCopy = copy
        copy.refresh(from: parameters)
    }

    /// `out[n]` = the embedding of `tokens[n]`, read from whichever storage holds the table, times
    /// DyT's embedding scale where the model has one.
    /// - Parameters: out (N, C), tokens (N)
    func embed(out: UnsafeMutablePointer<T>, tokens: UnsafePointer<Int32>, rows N: Int) {
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .embedding(backward: false)) }
        let C = config.hiddenSize, scale = layout.embeddingScale.map { weights($0, count: 1)[0] } ?? 1
        if let bfloat16 {
            Embedding.forward(out: out, tokens: tokens, bfloat16Table: bfloat16.bits(at: layout.embedding), rows: N, channels: C, scale: scale)
        } else {
            Embedding.forward(out: out, tokens: tokens, table: parameters.pointer + layout.embedding, rows: N, channels: C, scale: scale)
        }
    }

    /// Official init: each decoder-layer projection as its layer's init rule says (N(0, initializer_range ·
    /// gain), or Xavier normal for `deeppost`), LM head N(0, initializer_range), embedding N(0, √(2/5))
    /// with the padding row zero, norm weights 1 (input norms: the plan's `inputNormWeight`), output
    /// scales λ as the plan says; under DyT each site's α from its side's α₀ (see `DynamicTanhInit`)
    /// and the embedding scale √C. Reproducible for a seed.
    public func initializeWeights(seed: UInt64) {
        precondition(bfloat16 == nil, "initializeWeights needs fp32 weights")
        var rng = RandomSource(seed: seed)
        let std = config.initializerRange
        for tensor in layout.tensors {
            let p = parameters.pointer + tensor.offset
            switch tensor.role {
            case .embedding:
                rng.fillNormal(p, count: tensor.count, std: ModelConfig.embeddingInitStd)
                if let row = config.embeddingPaddingRow {
                    (p + row * config.hiddenSize).update(repeating: 0, count: config.hiddenSize)
                }
            case .embeddingNorm, .layerNorm, .finalNorm:
                p.update(repeating: 1, count: tensor.count)
            case .outputScale:
                break  // set per sublayer below
            case .embeddingScale:
                p.pointee = T(Double(config.hiddenSize).squareRoot())
            case .query, .key, .value, .attentionOutput, .gate, .up, .down:
                let rule = plan.layers[tensor.layer!].initialization
                rng.fillNormal(p, count: tensor.count,
                               std: rule.std(tensor.role, fanOut: tensor.shape[0], fanIn: tensor.shape[1], initializerRange: std))
            case .lmHead: rng.fillNormal(p, count: tensor.count, std: std)
            }
        }
        // What the plan sets per sublayer: output scales λ, and input norm weights other than 1 (learnable LNS).
        for (offsets, norms) in zip(layout.layers, plan.layers) {
            for (offset, sublayer) in [(offsets.attentionOutputScale, norms.attention), (offsets.mlpOutputScale, norms.mlp)] {
                if let offset, let scale = sublayer.outputScale {
                    (parameters.pointer + offset).update(repeating: T(scale.initialValue), count: scale.perChannel ? config.hiddenSize : 1)
                }
            }
            if let gate = offsets.gpasGate { parameters.pointer[gate] = 0 }  // GPAS starts as the identity
            for site in [offsets.attentionInputNorm, offsets.mlpInputNorm].compactMap({ $0 }) {
                (parameters.pointer + site.weight).update(repeating: T(norms.initialization.inputNormWeight), count: config.hiddenSize)
            }
        }
        // DyT's α per site: A on the attention side and the embedding norm, B on the MLP side and the final norm.
        if case .dyt(let initial) = plan.normFunction {
            let attentionSites = layout.layers.flatMap { [$0.attentionInputNorm, $0.attentionOutputNorm, $0.attentionPostNorm] } + [layout.embeddingNorm]
            let mlpSites = layout.layers.flatMap { [$0.mlpInputNorm, $0.mlpOutputNorm, $0.mlpPostNorm] } + [layout.finalNorm]
            for (sites, alpha) in [(attentionSites, initial.attention), (mlpSites, initial.mlp)] {
                for case let offset? in sites.map({ $0?.alpha }) { parameters.pointer[offset] = T(alpha) }
            }
        }
        parametersDidChange()
    }

    /// Clears the accumulated gradients.
    public func zeroGradients() { gradients.zero() }

    func activations(batch: Int, seqLen: Int, retention: ForwardRetention) -> Activations<T> {
        if let a = activations, a.batch == batch, a.seqLen == seqLen, a.retention == retention { return a }
        activations = nil  // free the old shape first
        let a = Activations<T>(config: config, plan: plan, batch: batch, seqLen: seqLen, retention: retention, precision: matmulPrecision,
                               headChunkElements: retention.keepsBackward ? trainingHeadChunkElements : headChunkElements)
        activations = a
        return a
    }

    /// Frees the activation buffers (they are rebuilt on the next forward).
    public func releaseActivations() { activations = nil }

    /// Whether the gradient buffer exists (it is allocated by the first backward, `zeroGradients` or `gradients`).
    public var gradientsAllocated: Bool { gradientStorage != nil }

    /// Bytes the activation buffers hold now (0 before the first forward), backward scratch included.
    public var activationBytes: Int { activations?.byteCount ?? 0 }

    /// Whether the activations hold backward scratch (only a backward pass allocates it).
    public var backwardScratchAllocated: Bool { activations?.backwardScratchAllocated ?? false }

    // MARK: - Forward

    /// Runs the model on `tokens` (B, T) and returns the mean cross-entropy over the targets that
    /// are not `CrossEntropy.ignoreIndex` (nan when there are none).
    ///
    /// `retention` says what the activations keep: `.backward` (the default) all that `backward`
    /// needs, with the LM head already differentiated; `.weightedBackward` the same but the head's
    /// gradient left for `backward(rowLossWeights:)`; `.layerInputs` the residual stream entering each
    /// layer; `.loss` nothing beyond the loss. The loss is the same whichever is kept. In a
    /// forward-only pass (`.layerInputs`, `.loss`) the LM head is skipped for rows none of whose
    /// targets counts, so one with every target ignored (angular distance, depth statistics) costs
    /// only the layers.
    /// - Parameters: tokens (B·T) input ids, targets (B·T) next-token ids or ignore
    @discardableResult
    public func forward(tokens: [Int32], targets: [Int32], batch B: Int, seqLen T_: Int,
                        retaining retention: ForwardRetention = .backward) throws -> Double {
        let N = B * T_, V = config.vocabSize
        guard T_ <= config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: T_, maximum: config.maxSequenceLength)
        }
        precondition(tokens.count == N && targets.count == N, "tokens and targets must hold batch·seqLen ids")
        for id in tokens where id < 0 || Int(id) >= V { throw ModelError.tokenOutOfRange(token: Int(id), vocabSize: V) }
        for id in targets where id != CrossEntropy.ignoreIndex && (id < 0 || Int(id) >= V) {
            throw ModelError.tokenOutOfRange(token: Int(id), vocabSize: V)
        }
        prepareMatmulWeights()
        let a = activations(batch: B, seqLen: T_, retention: retention)
        a.tokens = tokens
        a.targets = targets

        a.tokens.withUnsafeBufferPointer { ids in
            embed(out: (a.embedded ?? a.stream(0)).pointer, tokens: ids.baseAddress!, rows: N)
        }
        if let embedded = a.embedded, let rstd = a.embeddedRstd, let site = layout.embeddingNorm {
            normForward(site, out: a.stream(0).pointer, rstd: rstd.pointer, inp: embedded.pointer, rows: N)
        }
        let output = layersForward(a, from: 0) { a.stream($0).pointer }
        return headForward(a, input: output)
    }

    /// Reruns decoder layers `start..<L` (bypassing `skippedLayers`) and the head from the kept
    /// input of layer `start`, with the tokens and targets of the last forward, which must have kept
    /// `.layerInputs`; returns the mean loss. The kept inputs stay intact, so every layer can be
    /// resumed from in turn: with layer ℓ skipped, layers 0..<ℓ are the same as in the full model,
    /// and this gives exactly the loss of a whole forward with ℓ skipped, for L − ℓ layers' work.
    public func resumeForward(fromLayer start: Int) -> Double {
        guard let a = activations, a.retention == .layerInputs else {
            preconditionFailure("resumeForward needs a forward retaining .layerInputs first")
        }
        precondition((0..<config.numHiddenLayers).contains(start), "layer \(start) is outside 0..<\(config.numHiddenLayers)")
        prepareMatmulWeights()
        let input = a.stream(2 * start).pointer, rotation = a.resumeStreams
        let output = layersForward(a, from: start) { $0 == 2 * start ? input : rotation[$0 % 3].pointer }
        return headForward(a, input: output)
    }

    /// Decoder layers `start..<L` on the residual-stream buffers `stream(i)` (see `Activations.stream`);
    /// returns the last layer's output, `stream(2L)`.
    private func layersForward(_ a: Activations<T>, from start: Int,
                               stream: (Int) -> UnsafeMutablePointer<T>) -> UnsafeMutablePointer<T> {
        let N = a.rows, C = config.hiddenSize
        let L = config.numHiddenLayers
        var inputReady = false  // the next attention's input norm was computed by the residual add before it
        for l in start..<L {
            let x = stream(2 * l), mid = stream(2 * l + 1), y = stream(2 * l + 2)
            if skippedLayers.contains(l) {
                y.update(from: x, count: N * C)
                inputReady = false
                continue
            }
            let acts = a.layers[l], offsets = layout.layers[l], norms = plan.layers[l]
            let mlpInputReady = sublayerForward(
                norms.attention, acts.attention, rows: N, x: x, y: mid,
                inputNorm: offsets.attentionInputNorm, outputNorm: offsets.attentionOutputNorm,
                postNorm: offsets.attentionPostNorm, outputScale: offsets.attentionOutputScale, gpasGate: offsets.gpasGate,
                inputReady: inputReady, next: inputNormHandoff(norms.mlp, acts.mlp, site: offsets.mlpInputNorm)
            ) { u, f in
                attentionForward(acts, offsets, a, qkNorm: norms.qkNorm, u: u, f: f)
            }
            let next = l + 1 < L && !skippedLayers.contains(l + 1)
                ? inputNormHandoff(plan.layers[l + 1].attention, a.layers[l + 1].attention, site: layout.layers[l + 1].attentionInputNorm)
                : nil
            inputReady = sublayerForward(
                norms.mlp, acts.mlp, rows: N, x: mid, y: y,
                inputNorm: offsets.mlpInputNorm, outputNorm: offsets.mlpOutputNorm,
                postNorm: offsets.mlpPostNorm, outputScale: offsets.mlpOutputScale, gpasGate: offsets.gpasGate,
                inputReady: mlpInputReady, next: next
            ) { u, f in
                mlpForward(acts, offsets, rows: N, u: u, f: f)
            }
            onLayer?(LayerPass(layer: l, input: x, mlpInput: mid, output: y, norms: norms, acts: acts))
        }
        return stream(2 * config.numHiddenLayers)
    }

    /// Final norm, LM head and cross-entropy on `input` (N, C), the last layer's output, in chunks
    /// of `headRows` rows (`HeadLoss`); with `.backward` and fp32 weights the head's gradient too
    /// (eager). Records and returns the mean loss.
    private func headForward(_ a: Activations<T>, input: UnsafeMutablePointer<T>) -> Double {
        let N = a.rows, C = config.hiddenSize, V = config.vocabSize
        normForward(layout.finalNorm, out: a.finalNormed.pointer, rstd: a.finalRstd.pointer, inp: input, rows: N)
        let eager = a.retention == .backward && bfloat16 == nil  // a model with bf16 weights has no gradients
        let counted = a.targets.reduce(0) { $0 + ($1 == CrossEntropy.ignoreIndex ? 0 : 1) }
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .lmHeadLoss(backward: false), flops: (eager ? 6 : 2) * Double(N) * Double(C) * Double(V)) }
        let (lossSum, count) = a.targets.withUnsafeBufferPointer { t in
            let targets = t.baseAddress!
            HeadLoss.forward(logits: a.logits.pointer, hidden: a.finalNormed.pointer, hiddenCopy: a.finalNormedCopy,
                             weight: { matmulWeight(layout.lmHead, count: V * C) }, targets: targets, rowLoss: a.rowLoss.pointer,
                             rows: N, chunkRows: a.headRows, channels: C, vocab: V, skippingEmptyChunks: !a.retention.keepsBackward,
                             gradient: eager ? a.headGradient : nil, gradientScale: 1 / T(max(counted, 1)),
                             dLogitsCopy: eager ? a.dLogitsCopy : nil)
            return CrossEntropy.total(rowLoss: a.rowLoss.pointer, targets: targets, rows: N)
        }
        a.headGradientReady = eager
        a.lossSum = lossSum
        a.predictedCount = count
        return count > 0 ? lossSum / Double(count) : .nan
    }

    /// Number of targets the last forward averaged over.
    public var lastPredictedCount: Int { activations?.predictedCount ?? 0 }

    /// Each row's loss `−log p(targets[n] | tokens[…n])` in the last forward, (B·T); 0 where the
    /// target is ignored. Summed over a reply's rows it is minus the reply's log-probability.
    public var lastRowLosses: [Double] {
        guard let a = activations else { return [] }
        return (0..<a.rows).map { a.targets[$0] == CrossEntropy.ignoreIndex ? 0 : a.rowLoss.pointer[$0] }
    }

    /// One sublayer as the plan places its norms:
    /// `u = N_in(x)·s | x`, `f = F(u)`, `g = N_out(f) | f`, `g' = λ ⊙ g | g`, `r = α·x̃ + g'`, `y = N_post(r) | r`,
    /// with GPAS's factor `1 − SiLU(a)` on the shortcut (`x̃`) or on `y` where the plan puts it.
    /// The body reads `u` as a GEMM operand (its bf16 copy in bf16, made here once).
    ///
    /// With `inputReady` the previous sublayer's residual add has computed `u` (and its bf16 copy)
    /// already; with `next`, and where `y = r` (no post norm, no GPAS after the residual), the
    /// residual add computes the next sublayer's input norm in the same pass. Returns whether it did.
    /// - Parameters: x (N, C) sublayer input, y (N, C) sublayer output
    @discardableResult
    func sublayerForward(
        _ norms: SublayerNorms, _ acts: SublayerActivations<T>, rows N: Int, x: UnsafeMutablePointer<T>, y: UnsafeMutablePointer<T>,
        inputNorm: NormSite?, outputNorm: NormSite?, postNorm: NormSite?, outputScale: Int?, gpasGate: Int?,
        inputReady: Bool = false, next: InputNormHandoff<T>? = nil,
        body: (_ u: GemmOperand<T>, _ f: UnsafeMutablePointer<T>) -> Void
    ) -> Bool {
        let C = config.hiddenSize
        var u = x, normedEarlier = false
        if let normed = acts.inputNormed, let rstd = acts.inputRstd, let site = inputNorm {
            u = normed.pointer
            normedEarlier = inputReady
            if !inputReady { normForward(site, out: u, rstd: rstd.pointer, inp: x, rows: N, scale: T(norms.inputNormScale)) }
        }
        body(normedEarlier ? GemmOperand(u, savedIn: acts.bodyInputCopy) : GemmOperand(u, count: N * C, roundingInto: acts.bodyInputCopy),
             acts.body.pointer)
        var g = acts.body.pointer
        if let normed = acts.outputNormed, let rstd = acts.outputRstd, let site = outputNorm {
            normForward(site, out: normed.pointer, rstd: rstd.pointer, inp: g, rows: N)
            g = normed.pointer
        }
        if let scaled = acts.scaledOutput, let scale = norms.outputScale, let lambda = outputScale {
            SublayerScale.forward(out: scaled.pointer, inp: g, scale: weights(lambda, count: scale.perChannel ? C : 1),
                                  perChannel: scale.perChannel, rows: N, channels: C)
            g = scaled.pointer
        }
        let gpasFactor = gpasGate.map { GradientPreservingScale.factor(gate: weights($0, count: 1)[0]) } ?? 1
        // r is kept apart from y when a post norm or GPAS after the residual reads it (buffers shared by
        // all layers may hold a residual this layer does not use).
        let r = postNorm == nil && norms.gpas != .afterResidual ? y : acts.residual!.pointer
        let skip = norms.skipFromNormedInput ? u : x
        let skipScale = T(norms.residualScale) * (norms.gpas == .shortcut ? gpasFactor : 1)
        if let next, r == y {
            RMSNorm.forwardAfterResidualAdd(sum: y, out: next.normed, bits: next.copy?.pointer, rstd: next.rstd, skip: skip,
                                            skipScale: skipScale, update: g, weight: next.weight, rows: N, channels: C,
                                            eps: T(config.rmsNormEps), scale: next.scale)
            return true
        }
        let span = OpProfiler.begin()
        VectorMath.scaledAdd(r, skipScale, skip, g, N * C)
        OpProfiler.end(span, .residual(backward: false))
        if let rstd = acts.postRstd, let site = postNorm {
            normForward(site, out: y, rstd: rstd.pointer, inp: r, rows: N)
        }
        if norms.gpas == .afterResidual {
            y.update(from: r, count: N * C)
            VectorMath.scale(y, gpasFactor, N * C)
        }
        return false
    }

    /// Attention body: `f = o_proj(attention(rope(N_q(q)), rope(N_k(k)), v))` with `q, k, v = qkv_proj(u)`,
    /// `N_q`, `N_k` the QK-norm (identity without one).
    /// - Parameters: u (N, C), f (N, C)
    private func attentionForward(_ acts: LayerActivations<T>, _ o: LayerOffsets, _ a: Activations<T>, qkNorm: QKNorm,
                                  u: GemmOperand<T>, f: UnsafeMutablePointer<T>) {
        let B = a.batch, T_ = a.seqLen, N = B * T_, C = config.hiddenSize, H = config.numAttentionHeads, D = config.headDim
        let G = config.numKeyValueHeads, W = C + 2 * config.keyValueSize
        let qkv = acts.qkv.pointer
        Linear.forward(out: qkv, inp: u, weight: matmulWeight(o.qkv, count: W * C), rows: N, inChannels: C, outChannels: W)
        normalizeQueriesAndKeys(qkv, acts, o, qkNorm: qkNorm, rows: N)
        rope.forward(qkv, batch: B, seqLen: T_, heads: H, rowStride: W)
        rope.forward(qkv + C, batch: B, seqLen: T_, heads: G, rowStride: W)
        CausalAttention.forward(out: acts.context.pointer, logSumExp: acts.logSumExp.pointer,
                                qkv: GemmOperand(qkv, count: N * W, roundingInto: acts.qkvCopy),
                                batch: B, seqLen: T_, heads: H, kvHeads: G, headDim: D)
        Linear.forward(out: f, inp: GemmOperand(acts.context.pointer, count: N * C, roundingInto: acts.contextCopy),
                       weight: matmulWeight(o.attentionOutput, count: C * C), rows: N, inChannels: C, outChannels: C)
    }

    /// QK-norm of the fused (N, W) qkv rows in place, before RoPE; nothing without one.
    /// Shared by the batched forward and the KV-cached generator.
    func normalizeQueriesAndKeys(_ qkv: UnsafeMutablePointer<T>, _ acts: LayerActivations<T>, _ o: LayerOffsets,
                                 qkNorm: QKNorm, rows N: Int) {
        guard qkNorm != .none else { return }
        guard let queryNorm = o.queryNorm, let keyNorm = o.keyNorm, let raw = acts.qkRaw, let rstd = acts.qkRstd else {
            preconditionFailure("a layer with QK-norm has its weights and buffers")
        }
        let (queryWidth, keyWidth) = qkNorm == .head ? (config.headDim, config.headDim) : (config.hiddenSize, config.keyValueSize)
        QueryKeyNorm.forward(qkv: qkv, raw: raw.pointer, rstd: rstd.pointer,
                             queryWeight: weights(queryNorm, count: queryWidth), keyWeight: weights(keyNorm, count: keyWidth),
                             valueWeight: o.valueNorm.map { weights($0, count: keyWidth) },
                             mode: qkNorm, rows: N, heads: config.numAttentionHeads, kvHeads: config.numKeyValueHeads,
                             headDim: config.headDim, eps: T(config.rmsNormEps))
    }

    /// MLP body: `f = down(silu(gate(u)) ⊙ up(u))`.
    /// - Parameters: u (N, C), f (N, C)
    func mlpForward(_ acts: LayerActivations<T>, _ o: LayerOffsets, rows N: Int,
                    u: GemmOperand<T>, f: UnsafeMutablePointer<T>) {
        let C = config.hiddenSize, I = config.intermediateSize
        Linear.forward(out: acts.gateUp.pointer, inp: u, weight: matmulWeight(o.gateUp, count: 2 * I * C),
                       rows: N, inChannels: C, outChannels: 2 * I)
        // In bf16 SwiGLU writes only the bf16 copy the down projection reads (and its backward reads again).
        SwiGLU.forward(out: acts.hidden?.pointer, outCopy: acts.hiddenCopy, gateUp: acts.gateUp.pointer, rows: N, intermediate: I)
        Linear.forward(out: f, inp: hiddenOperand(acts), weight: matmulWeight(o.down, count: C * I), rows: N, inChannels: I, outChannels: C)
    }

    /// The SwiGLU output as the down projection reads it: its bf16 copy in bf16, else the fp32 values.
    private func hiddenOperand(_ acts: LayerActivations<T>) -> GemmOperand<T> {
        if let copy = acts.hiddenCopy { return .bfloat16(copy.pointer) }
        guard let hidden = acts.hidden else { preconditionFailure("an fp32 layer keeps its SwiGLU output") }
        return .values(hidden.pointer)
    }

    // MARK: - Norm sites

    /// One norm site's forward, as the function its parameters say (the plan's `NormFunction`):
    /// RMSNorm saves each row's 1/rms in `rstd`; DyT saves nothing (its backward recomputes tanh from `inp`).
    /// - Parameters: out (N, C), rstd (N), inp (N, C); scale multiplies the output (LayerNorm Scaling)
    func normForward(_ site: NormSite, out: UnsafeMutablePointer<T>, rstd: UnsafeMutablePointer<T>, inp: UnsafePointer<T>,
                     rows N: Int, scale: T = 1) {
        let C = config.hiddenSize
        switch site {
        case .rms(let weight):
            RMSNorm.forward(out: out, rstd: rstd, inp: inp, weight: weights(weight, count: C), rows: N, channels: C,
                            eps: T(config.rmsNormEps), scale: scale)
        case .dyt(let weight, let alpha):
            DynamicTanh.forward(out: out, inp: inp, weight: weights(weight, count: C), alpha: weights(alpha, count: 1),
                                rows: N, channels: C, scale: scale)
        }
    }

    /// Backward of `normForward`: accumulates `dInp` and the site's parameter gradients.
    /// - Parameters: dInp (N, C), dOut (N, C), inp (N, C) the forward's input, rstd (N) as the forward saved it
    private func normBackward(_ site: NormSite, dInp: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, inp: UnsafePointer<T>,
                              rstd: UnsafePointer<T>, rows N: Int, scale: T = 1) {
        let C = config.hiddenSize, w = parameters.pointer, g = gradients.pointer
        switch site {
        case .rms(let weight):
            RMSNorm.backward(dInp: dInp, dWeight: g + weight, dOut: dOut, inp: inp, weight: w + weight, rstd: rstd,
                             rows: N, channels: C, scale: scale)
        case .dyt(let weight, let alpha):
            DynamicTanh.backward(dInp: dInp, dWeight: g + weight, dAlpha: g + alpha, dOut: dOut, inp: inp, weight: w + weight,
                                 alpha: w + alpha, rows: N, channels: C, scale: scale)
        }
    }

    // MARK: - Backward (the forward read bottom-up)

    /// Accumulates into `gradients` the gradient of `lossScale × (mean loss of the last forward)`.
    /// Needs fp32 weights (a bf16 model has no gradients).
    public func backward(lossScale: T = 1) {
        let a = activationsForBackward()
        guard a.predictedCount > 0 else { return }
        layersBackward(a, dHidden: headBackward(a, lossScale: lossScale, rowWeights: nil))
    }

    /// Accumulates into `gradients` the gradient of Σₙ `rowLossWeights[n]` · rowLossₙ over the rows
    /// of the last forward (B·T of them, in the forward's order), where rowLossₙ = −log p(targetₙ | …);
    /// the weights of rows whose target is ignored are not read. All weights 1/count is
    /// `backward(lossScale: 1)`. The weights may be decided after the forward (DPO); a forward
    /// retaining `.weightedBackward` leaves the LM head's gradient for this call, `.backward`
    /// computes one that only uniform weights can use. Needs fp32 weights.
    /// - Parameter rowLossWeights: (B·T)
    public func backward(rowLossWeights: UnsafePointer<T>) {
        let a = activationsForBackward()
        guard a.predictedCount > 0 else { return }
        layersBackward(a, dHidden: headBackward(a, lossScale: 1, rowWeights: rowLossWeights))
    }

    /// The last forward's activations, checked to be ones a backward can read.
    private func activationsForBackward() -> Activations<T> {
        precondition(bfloat16 == nil, "backward needs fp32 weights; this model keeps bf16 weights for forward only")
        guard let a = activations else { preconditionFailure("backward needs a forward first") }
        precondition(a.retention.keepsBackward, "backward needs a forward retaining .backward; the last one kept only \(a.retention)")
        return a
    }

    /// Adds the LM head's weight gradient and returns the gradient at the final norm's output (N, C),
    /// for the loss `lossScale` × the mean (`rowWeights` nil) or Σ rowWeights[n] · rowLossₙ: scales
    /// what an eager forward computed for the mean, else recomputes the head chunk by chunk into `dBody`.
    private func headBackward(_ a: Activations<T>, lossScale: T, rowWeights: UnsafePointer<T>?) -> UnsafePointer<T> {
        let N = a.rows, C = config.hiddenSize, V = config.vocabSize
        let g = gradients.pointer
        let span = OpProfiler.begin()
        if rowWeights == nil && a.headGradientReady {
            // The loops get pointers: `a`'s buffers allocated on first use (`dBody` is backward scratch)
            // are asked for here, never inside a loop body (see `Parallel.isInLoopBody`).
            let dWeight = a.headGradient.dWeight.pointer, dInput = a.headGradient.dInput.pointer  // of the mean loss
            let lmHeadGradient = g + layout.lmHead  // (V, C)
            Parallel.forEachChunk(V, minimumPerThread: 64) { rows in
                let offset = rows.lowerBound * C
                VectorMath.axpy(lossScale, dWeight + offset, lmHeadGradient + offset, rows.count * C)
            }
            defer { OpProfiler.end(span, .lmHeadLoss(backward: true)) }
            guard lossScale != 1 else { return UnsafePointer(dInput) }
            let dHidden = a.dBody.pointer
            Parallel.forEachChunk(N, minimumPerThread: 64) { rows in
                let offset = rows.lowerBound * C, count = rows.count * C
                (dHidden + offset).update(from: dInput + offset, count: count)
                VectorMath.scale(dHidden + offset, lossScale, count)
            }
            return UnsafePointer(dHidden)
        }
        a.targets.withUnsafeBufferPointer { t in
            HeadLoss.backward(dInput: a.dBody.pointer, dWeight: g + layout.lmHead, logits: a.logits.pointer,
                              hidden: a.finalNormed.pointer, hiddenCopy: a.finalNormedCopy, weight: matmulWeight(layout.lmHead, count: V * C),
                              targets: t.baseAddress!, rowLoss: a.rowLoss.pointer,
                              scale: rowWeights == nil ? lossScale / T(a.predictedCount) : 1, rowWeights: rowWeights,
                              rows: N, chunkRows: a.headRows, channels: C, vocab: V, dLogitsCopy: a.dLogitsCopy)
        }
        OpProfiler.end(span, .lmHeadLoss(backward: true), flops: 6 * Double(N) * Double(C) * Double(V))
        return UnsafePointer(a.dBody.pointer)
    }

    /// Backward from `dHidden` (N, C), the gradient at the final norm's output, through the final
    /// norm, the decoder layers and the embedding.
    func layersBackward(_ a: Activations<T>, dHidden: UnsafePointer<T>) {
        let N = a.rows, C = config.hiddenSize
        let w = parameters.pointer, g = gradients.pointer
        var dOut = a.dStreamOut, dIn = a.dStreamIn
        dOut.zero()
        normBackward(layout.finalNorm, dInp: dOut.pointer, dOut: dHidden, inp: a.streams[2 * config.numHiddenLayers].pointer,
                     rstd: a.finalRstd.pointer, rows: N)
        for l in stride(from: config.numHiddenLayers - 1, through: 0, by: -1) where !skippedLayers.contains(l) {
            let acts = a.layers[l], offsets = layout.layers[l], norms = plan.layers[l]
            sublayerBackward(norms.mlp, acts.mlp, x: a.streams[2 * l + 1].pointer,
                             dY: dOut.pointer, dX: dIn.pointer,
                             inputNorm: offsets.mlpInputNorm, outputNorm: offsets.mlpOutputNorm,
                             postNorm: offsets.mlpPostNorm, outputScale: offsets.mlpOutputScale, gpasGate: offsets.gpasGate) { u, dF, dU in
                mlpBackward(acts, offsets, a, u: u, dF: dF, dU: dU)
            }
            swap(&dOut, &dIn)
            sublayerBackward(norms.attention, acts.attention, x: a.streams[2 * l].pointer,
                             dY: dOut.pointer, dX: dIn.pointer,
                             inputNorm: offsets.attentionInputNorm, outputNorm: offsets.attentionOutputNorm,
                             postNorm: offsets.attentionPostNorm, outputScale: offsets.attentionOutputScale, gpasGate: offsets.gpasGate) { u, dF, dU in
                attentionBackward(acts, offsets, a, qkNorm: norms.qkNorm, u: u, dF: dF, dU: dU)
            }
            swap(&dOut, &dIn)
        }
        var dEmbedded = dOut.pointer
        if let embedded = a.embedded, let rstd = a.embeddedRstd, let site = layout.embeddingNorm {
            dIn.zero()
            normBackward(site, dInp: dIn.pointer, dOut: dOut.pointer, inp: embedded.pointer, rstd: rstd.pointer, rows: N)
            dEmbedded = dIn.pointer
        }
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .embedding(backward: true)) }
        a.tokens.withUnsafeBufferPointer { ids in
            if let scale = layout.embeddingScale {
                Embedding.backwardScale(dScale: g + scale, dOut: dEmbedded, tokens: ids.baseAddress!, table: w + layout.embedding,
                                        rows: N, channels: C)
            }
            Embedding.backward(dTable: g + layout.embedding, dOut: dEmbedded, tokens: ids.baseAddress!,
                               rows: N, channels: C, frozenRow: config.embeddingPaddingRow,
                               scale: layout.embeddingScale.map { w[$0] } ?? 1)
        }
    }

    /// Backward of `sublayerForward`: writes `dX` from `dY`, accumulating the norm weights' gradients.
    /// - Parameters: x (N, C) the forward's input; dY, dX (N, C)
    private func sublayerBackward(
        _ norms: SublayerNorms, _ acts: SublayerActivations<T>, x: UnsafeMutablePointer<T>,
        dY: UnsafeMutablePointer<T>, dX: UnsafeMutablePointer<T>,
        inputNorm: NormSite?, outputNorm: NormSite?, postNorm: NormSite?, outputScale: Int?, gpasGate: Int?,
        body: (_ u: GemmOperand<T>, _ dF: UnsafeMutablePointer<T>, _ dU: UnsafeMutablePointer<T>) -> Void
    ) {
        let a = activations!, N = a.rows, C = config.hiddenSize, w = parameters.pointer, g = gradients.pointer
        // y ← y − SiLU(a)·sg(y): dY passes unscaled; the gate sees the value under the stop-gradient
        if norms.gpas == .afterResidual, let gate = gpasGate, let r = acts.residual {
            GradientPreservingScale.backwardGate(dGate: g + gate, dOut: dY, inp: r.pointer, gate: w + gate, count: N * C)
        }
        // y = N_post(r)
        var dR = dY
        if let rstd = acts.postRstd, let site = postNorm, let r = acts.residual {
            a.dResidual.zero()
            normBackward(site, dInp: a.dResidual.pointer, dOut: dY, inp: r.pointer, rstd: rstd.pointer, rows: N)
            dR = a.dResidual.pointer
        }
        // r = α·s + g' with s = x̃ = x − SiLU(a)·sg(x) at the shortcut (dX gets α·dR unscaled), or s = u
        let span = OpProfiler.begin()
        dX.update(repeating: 0, count: N * C)
        if !norms.skipFromNormedInput { VectorMath.axpy(T(norms.residualScale), dR, dX, N * C) }
        OpProfiler.end(span, .residual(backward: true))
        if norms.gpas == .shortcut, let gate = gpasGate {
            let skip = norms.skipFromNormedInput ? (acts.inputNormed?.pointer ?? x) : x
            GradientPreservingScale.backwardGate(dGate: g + gate, dOut: dR, inp: skip, gate: w + gate, count: N * C,
                                                 scale: T(norms.residualScale))
        }
        // g' = λ ⊙ g
        var dG = dR
        if let scale = norms.outputScale, let lambda = outputScale {
            SublayerScale.backward(dInp: a.dScaled.pointer, dScale: g + lambda, dOut: dR,
                                   inp: acts.outputNormed?.pointer ?? acts.body.pointer, scale: w + lambda,
                                   perChannel: scale.perChannel, rows: N, channels: C)
            dG = a.dScaled.pointer
        }
        // g = N_out(f)
        var dF = dG
        if let rstd = acts.outputRstd, let site = outputNorm {
            a.dBody.zero()
            normBackward(site, dInp: a.dBody.pointer, dOut: dG, inp: acts.body.pointer, rstd: rstd.pointer, rows: N)
            dF = a.dBody.pointer
        }
        // f = F(u)
        let u = acts.inputNormed?.pointer ?? x
        body(GemmOperand(u, savedIn: acts.bodyInputCopy), dF, a.dBodyInput.pointer)
        if norms.skipFromNormedInput { VectorMath.axpy(T(norms.residualScale), dR, a.dBodyInput.pointer, N * C) }
        // u = N_in(x)·s
        if let rstd = acts.inputRstd, let site = inputNorm {
            normBackward(site, dInp: dX, dOut: a.dBodyInput.pointer, inp: x, rstd: rstd.pointer, rows: N, scale: T(norms.inputNormScale))
        } else {
            let span = OpProfiler.begin()
            VectorMath.axpy(1, a.dBodyInput.pointer, dX, N * C)
            OpProfiler.end(span, .residual(backward: true))
        }
    }

    /// Backward of `attentionForward`: writes `dU` (N, C) from `dF` (N, C).
    /// In bf16 each output gradient is rounded into `dOutCopy` once, for both products that read it.
    private func attentionBackward(_ acts: LayerActivations<T>, _ o: LayerOffsets, _ a: Activations<T>, qkNorm: QKNorm,
                                   u: GemmOperand<T>, dF: UnsafeMutablePointer<T>, dU: UnsafeMutablePointer<T>) {
        let B = a.batch, T_ = a.seqLen, N = B * T_, C = config.hiddenSize, H = config.numAttentionHeads, D = config.headDim
        let g = gradients.pointer
        Linear.backward(dInp: a.dContext.pointer, dWeight: g + o.attentionOutput,
                        dOut: GemmOperand(dF, count: N * C, roundingInto: a.dOutCopy),
                        inp: GemmOperand(acts.context.pointer, savedIn: acts.contextCopy),
                        weight: matmulWeight(o.attentionOutput, count: C * C), rows: N, inChannels: C, outChannels: C, accumulateInput: false)
        let G = config.numKeyValueHeads, W = C + 2 * config.keyValueSize
        CausalAttention.backward(dqkv: a.dqkv.pointer, dOut: GemmOperand(a.dContext.pointer, count: N * C, roundingInto: a.dOutCopy),
                                 qkv: GemmOperand(acts.qkv.pointer, savedIn: acts.qkvCopy), logSumExp: acts.logSumExp.pointer,
                                 batch: B, seqLen: T_, heads: H, kvHeads: G, headDim: D)
        rope.backward(a.dqkv.pointer, batch: B, seqLen: T_, heads: H, rowStride: W)
        rope.backward(a.dqkv.pointer + C, batch: B, seqLen: T_, heads: G, rowStride: W)
        if qkNorm != .none, let queryNorm = o.queryNorm, let keyNorm = o.keyNorm, let raw = acts.qkRaw, let rstd = acts.qkRstd {
            QueryKeyNorm.backward(dqkv: a.dqkv.pointer, dQueryWeight: g + queryNorm, dKeyWeight: g + keyNorm,
                                  dValueWeight: o.valueNorm.map { g + $0 },
                                  raw: raw.pointer, rstd: rstd.pointer, queryWeight: parameters.pointer + queryNorm,
                                  keyWeight: parameters.pointer + keyNorm, valueWeight: o.valueNorm.map { UnsafePointer(parameters.pointer + $0) },
                                  mode: qkNorm, rows: N, heads: H, kvHeads: G, headDim: D)
        }
        Linear.backward(dInp: dU, dWeight: g + o.qkv, dOut: GemmOperand(a.dqkv.pointer, count: N * W, roundingInto: a.dOutCopy),
                        inp: u, weight: matmulWeight(o.qkv, count: W * C), rows: N, inChannels: C, outChannels: W, accumulateInput: false)
    }

    /// Backward of `mlpForward`: writes `dU` (N, C) from `dF` (N, C).
    private func mlpBackward(_ acts: LayerActivations<T>, _ o: LayerOffsets, _ a: Activations<T>,
                             u: GemmOperand<T>, dF: UnsafeMutablePointer<T>, dU: UnsafeMutablePointer<T>) {
        let N = a.rows, C = config.hiddenSize, I = config.intermediateSize
        let g = gradients.pointer
        Linear.backward(dInp: a.dHidden.pointer, dWeight: g + o.down, dOut: GemmOperand(dF, count: N * C, roundingInto: a.dOutCopy),
                        inp: hiddenOperand(acts), weight: matmulWeight(o.down, count: C * I),
                        rows: N, inChannels: I, outChannels: C, accumulateInput: false)
        // In bf16 SwiGLU's backward writes only the bf16 gradient both products read.
        let dGateUpOperand: GemmOperand<T>
        if let copy = a.dOutCopy {
            SwiGLU.backward(dGateUp: nil, dGateUpCopy: copy, dOut: a.dHidden.pointer, gateUp: acts.gateUp.pointer, rows: N, intermediate: I)
            dGateUpOperand = .bfloat16(copy.pointer)
        } else {
            SwiGLU.backward(dGateUp: a.dGateUp.pointer, dOut: a.dHidden.pointer, gateUp: acts.gateUp.pointer, rows: N, intermediate: I)
            dGateUpOperand = .values(a.dGateUp.pointer)
        }
        Linear.backward(dInp: dU, dWeight: g + o.gateUp, dOut: dGateUpOperand,
                        inp: u, weight: matmulWeight(o.gateUp, count: 2 * I * C), rows: N, inChannels: C, outChannels: 2 * I, accumulateInput: false)
    }
}

extension Transformer {
    /// The residual stream entering decoder layer `l` in the last forward, (B·T, C); `l = L` is the
    /// last layer's output before the final norm.
    public func layerInput(_ l: Int) -> UnsafeMutablePointer<T> {
        guard let a = activations, a.retention != .loss else {
            preconditionFailure("layerInput needs a forward retaining .layerInputs or .backward first")
        }
        return a.stream(2 * l).pointer
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
        guard let a = activations, a.retention.keepsBackward else { preconditionFailure("mlpInput needs a forward retaining .backward first") }
        return a.streams[2 * l + 1].pointer
    }

    private func sublayerActivations(_ l: Int, _ sublayer: Sublayer) -> SublayerActivations<T> {
        guard let a = activations, a.retention.keepsBackward else {
            preconditionFailure("sublayer buffers need a forward retaining .backward first (else one layer's buffers serve all)")
        }
        precondition(!skippedLayers.contains(l), "layer \(l) was skipped in the last forward; its sublayer buffers are stale")
        switch sublayer {
        case .attention: return a.layers[l].attention
        case .mlp: return a.layers[l].mlp
        }
    }
}
