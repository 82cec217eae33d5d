import MixLNTensor

// Dimensions: C channels, H heads, D head size, V vocabulary, S positions cached so far.

/// How the next token is chosen.
public struct SamplingOptions: Sendable {
    /// 0 picks the most likely token (greedy); above 0 samples from softmax(logits / temperature).
    public var temperature: Double
    /// Sample only among the k most likely tokens (nil: all).
    public var topK: Int?
    public var seed: UInt64

    public init(temperature: Double = 0, topK: Int? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
    }
}

/// Autoregressive decoding with a key/value cache: each new token costs one row through every
/// layer, attending to the cached keys and values of the tokens before it.
///
/// The norm plan is applied by the same `sublayerForward` as training, on one row at a time. The
/// projections run in the model's `matmulPrecision` as it was when the generator was made; the
/// attention over the cache is a few dot products per head, in `T`.
public final class TextGenerator<T: TensorScalar> {
    public let model: Transformer<T>
    let layers: [LayerActivations<T>]   // one-row scratch per layer
    let keys: [Buffer<T>]               // L × (maxPositions, K) after RoPE (K = key/value heads × D)
    let values: [Buffer<T>]             // L × (maxPositions, K)
    let streams: [Buffer<T>]            // (2L+1) × (C)
    let embedded: Buffer<T>             // (C)
    let embeddedRstd: Buffer<T>         // (1)
    let finalNormed: Buffer<T>          // (C)
    let finalRstd: Buffer<T>            // (1)
    let scores: Buffer<T>               // (maxPositions)
    public let logits: Buffer<T>        // (V) of the last token fed
    let finalNormedCopy: BFloat16Buffer?  // (C) in bf16 precision
    let precision: MatmulPrecision
    /// Tokens fed so far (the next position).
    public private(set) var position = 0

    public init(model: Transformer<T>) {
        self.model = model
        let config = model.config, C = config.hiddenSize, S = config.maxSequenceLength
        let precision = model.matmulPrecision
        self.precision = precision
        layers = model.plan.layers.map { LayerActivations(norms: $0, batch: 1, seqLen: 1, config: config, precision: precision) }
        keys = (0..<config.numHiddenLayers).map { _ in Buffer(count: S * config.keyValueSize) }
        values = (0..<config.numHiddenLayers).map { _ in Buffer(count: S * config.keyValueSize) }
        streams = (0...(2 * config.numHiddenLayers)).map { _ in Buffer(count: C) }
        embedded = Buffer(count: C)
        embeddedRstd = Buffer(count: 1)
        finalNormed = Buffer(count: C)
        finalRstd = Buffer(count: 1)
        scores = Buffer(count: S)
        logits = Buffer(count: config.vocabSize)
        finalNormedCopy = bfloat16Copy(C, precision)
    }

    /// Forgets the cached tokens.
    public func reset() { position = 0 }

    /// Feeds one token at the next position and leaves its next-token logits in `logits`.
    public func feed(_ token: Int32) throws {
        let config = model.config, C = config.hiddenSize, V = config.vocabSize
        guard token >= 0, Int(token) < V else { throw ModelError.tokenOutOfRange(token: Int(token), vocabSize: V) }
        guard position < config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: position + 1, maximum: config.maxSequenceLength)
        }
        precondition(model.matmulPrecision == precision, "the model's matmul precision changed after this generator was made")
        model.prepareMatmulWeights()
        let layout = model.layout
        var id = token
        model.embed(out: (layout.embeddingNorm == nil ? streams[0] : embedded).pointer, tokens: &id, rows: 1)
        if let site = layout.embeddingNorm {
            model.normForward(site, out: streams[0].pointer, rstd: embeddedRstd.pointer, inp: embedded.pointer, rows: 1)
        }
        for l in 0..<config.numHiddenLayers {
            let x = streams[2 * l], mid = streams[2 * l + 1], y = streams[2 * l + 2]
            if model.skippedLayers.contains(l) {
                y.pointer.update(from: x.pointer, count: C)
                continue
            }
            let acts = layers[l], offsets = layout.layers[l], norms = model.plan.layers[l]
            model.sublayerForward(norms.attention, acts.attention, rows: 1, x: x.pointer, y: mid.pointer,
                                  inputNorm: offsets.attentionInputNorm, outputNorm: offsets.attentionOutputNorm,
                                  postNorm: offsets.attentionPostNorm, outputScale: offsets.attentionOutputScale, gpasGate: offsets.gpasGate) { u, f in
                cachedAttention(layer: l, acts, offsets, u: u, f: f)
            }
            model.sublayerForward(norms.mlp, acts.mlp, rows: 1, x: mid.pointer, y: y.pointer,
                                  inputNorm: offsets.mlpInputNorm, outputNorm: offsets.mlpOutputNorm,
                                  postNorm: offsets.mlpPostNorm, outputScale: offsets.mlpOutputScale, gpasGate: offsets.gpasGate) { u, f in
                model.mlpForward(acts, offsets, rows: 1, u: u, f: f)
            }
        }
        model.normForward(layout.finalNorm, out: finalNormed.pointer, rstd: finalRstd.pointer,
                          inp: streams[2 * config.numHiddenLayers].pointer, rows: 1)
        Linear.forward(out: logits.pointer, inp: GemmOperand(finalNormed.pointer, count: C, roundingInto: finalNormedCopy),
                       weight: model.matmulWeight(layout.lmHead, count: V * C), rows: 1, inChannels: C, outChannels: V)
        position += 1
    }

    /// Attention of the token at `position` over the cached positions 0…position.
    /// - Parameters: u (C) sublayer input, f (C) output after o_proj
    private func cachedAttention(layer l: Int, _ acts: LayerActivations<T>, _ o: LayerOffsets,
                                 u: GemmOperand<T>, f: UnsafeMutablePointer<T>) {
        let config = model.config, C = config.hiddenSize, H = config.numAttentionHeads, D = config.headDim
        let G = config.numKeyValueHeads, K = config.keyValueSize, group = H / G
        let qkv = acts.qkv.pointer, context = acts.context.pointer
        Linear.forward(out: qkv, inp: u, weight: model.matmulWeight(o.qkv, count: (C + 2 * K) * C), rows: 1, inChannels: C, outChannels: C + 2 * K)
        model.normalizeQueriesAndKeys(qkv, acts, o, qkNorm: model.plan.layers[l].qkNorm, rows: 1)
        model.rope.forward(qkv, position: position, heads: H)
        model.rope.forward(qkv + C, position: position, heads: G)
        (keys[l].pointer + position * K).update(from: qkv + C, count: K)
        (values[l].pointer + position * K).update(from: qkv + C + K, count: K)
        let scale = 1 / T(D).squareRoot(), p = scores.pointer
        for h in 0..<H {
            let kv = (h / group) * D
            for j in 0...position {
                p[j] = VectorMath.dot(qkv + h * D, keys[l].pointer + j * K + kv, D) * scale
            }
            _ = VectorMath.softmax(p, position + 1)
            let out = context + h * D
            out.update(repeating: 0, count: D)
            for j in 0...position { VectorMath.axpy(p[j], values[l].pointer + j * K + kv, out, D) }
        }
        Linear.forward(out: f, inp: GemmOperand(context, count: C, roundingInto: acts.contextCopy),
                       weight: model.matmulWeight(o.attentionOutput, count: C * C), rows: 1, inChannels: C, outChannels: C)
    }

    /// The next token from `logits` under `options`, using `rng` when sampling.
    public func choose(_ options: SamplingOptions, rng: inout RandomSource) -> Int32 {
        let V = model.config.vocabSize, l = logits.pointer
        if options.temperature <= 0 {
            var best = 0
            for i in 1..<V where l[i] > l[best] { best = i }
            return Int32(best)
        }
        var candidates = Array(0..<V)
        if let k = options.topK, k < V {
            candidates.sort { l[$0] > l[$1] }
            candidates = Array(candidates.prefix(max(k, 1)))
        }
        let scaled = candidates.map { Double(l[$0]) / options.temperature }
        let top = scaled.max() ?? 0
        let weights = scaled.map { _exp($0 - top) }
        var r = rng.nextUniform() * weights.reduce(0, +)
        for (i, weight) in weights.enumerated() {
            r -= weight
            if r < 0 { return Int32(candidates[i]) }
        }
        return Int32(candidates.last!)
    }

    /// Feeds `prompt`, then generates up to `maxNewTokens` tokens, stopping early at `stop`.
    public func generate(prompt: [Int32], maxNewTokens: Int, options: SamplingOptions, stop: Int32? = nil,
                         onToken: (Int32) -> Void = { _ in }) throws -> [Int32] {
        precondition(!prompt.isEmpty, "generation needs at least one prompt token")
        reset()
        for token in prompt { try feed(token) }
        var rng = RandomSource(seed: options.seed)
        var output: [Int32] = []
        while output.count < maxNewTokens, position < model.config.maxSequenceLength {
            let next = choose(options, rng: &rng)
            if next == stop { break }
            output.append(next)
            onToken(next)
            if output.count < maxNewTokens, position < model.config.maxSequenceLength { try feed(next) }
        }
        return output
    }
}

import Foundation
@inline(__always) private func _exp(_ x: Double) -> Double { Foundation.exp(x) }
