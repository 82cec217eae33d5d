import Foundation
import MixLNGGUF
import MixLNTensor

// Dimensions: C hidden, I intermediate, V vocabulary, H query heads, D head size.

/// A LLaMA-architecture GGUF file (llama.cpp's format) as a model: the config from its metadata,
/// its tensors dequantized to fp32 under the official names.
///
/// llama.cpp's LLaMA graph normalizes the input of each sublayer (`attn_norm`, `ffn_norm`) and the
/// output of the last layer (`output_norm`): it is Pre-LN, and the plan is always `pre`.
/// llama.cpp's converter permutes the rows of `attn_q` and `attn_k` for its interleaved RoPE
/// (pairs (2i, 2i+1) of each head); loading undoes it (`unpermuteRows`), back to the half-split
/// `rotate_half` layout (pairs (i, i + D/2)) of Hugging Face and this package.
public enum GGUFModel {
    /// Whether `path` names a GGUF file (by its extension).
    public static func isGGUF(_ path: String) -> Bool { (path as NSString).pathExtension.lowercased() == "gguf" }

    /// GGUF tensor names of one decoder layer → official names (the Pre-LN layout's).
    static let layerTensors: [(gguf: String, official: String)] = [
        ("attn_norm", "input_layernorm"), ("ffn_norm", "post_attention_layernorm"),
        ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"), ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"),
        ("ffn_down", "mlp.down_proj"),
    ]

    /// The GGUF tensor name of each official tensor name of a model with `layers` decoder layers.
    static func ggufNames(layers: Int, tied: Bool) -> [String: String] {
        var names = ["model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"]
        if !tied { names["lm_head.weight"] = "output.weight" }
        for l in 0..<layers {
            for (gguf, official) in layerTensors { names["model.layers.\(l).\(official).weight"] = "blk.\(l).\(gguf).weight" }
        }
        return names
    }

    /// The model's config from the metadata (`llama.*` keys; the vocabulary size from
    /// `tokenizer.ggml.tokens`, else `llama.vocab_size`, else the embedding's rows).
    /// - Throws: `GGUFError` naming a missing or mistyped key, another architecture, or a RoPE
    ///   scaling that `RopeScaling` cannot express.
    public static func config(_ file: GGUFFile) throws -> ModelConfig {
        let architecture = try file.require("general.architecture", file.string)
        guard architecture == "llama" else {
            throw GGUFError(file.path, "general.architecture is '\(architecture)'; only 'llama' models are supported")
        }
        let heads = try file.require("llama.attention.head_count", file.int)
        let hidden = try file.require("llama.embedding_length", file.int)
        var vocabulary = try file.strings("tokenizer.ggml.tokens")?.count ?? file.int("llama.vocab_size")
        if vocabulary == nil, let embedding = file.info("token_embd.weight"), embedding.dimensions.count == 2 {
            vocabulary = embedding.dimensions[1]
        }
        guard let vocabulary else { throw GGUFError(file.path, "no vocabulary size: no tokenizer.ggml.tokens, llama.vocab_size or token_embd.weight") }
        if let rotary = try file.int("llama.rope.dimension_count"), heads > 0, rotary != hidden / heads {
            throw GGUFError(file.path, "llama.rope.dimension_count \(rotary) is not the head size \(hidden / heads); partial rotary embeddings are not supported")
        }
        let config = ModelConfig(
            hiddenSize: hidden, intermediateSize: try file.require("llama.feed_forward_length", file.int),
            numAttentionHeads: heads, numHiddenLayers: try file.require("llama.block_count", file.int),
            vocabSize: vocabulary, maxSequenceLength: try file.require("llama.context_length", file.int),
            rmsNormEps: try file.require("llama.attention.layer_norm_rms_epsilon", file.double),
            ropeTheta: try file.double("llama.rope.freq_base") ?? 10000, padTokenId: nil,
            numKeyValueHeads: try file.int("llama.attention.head_count_kv") ?? heads,
            tieWordEmbeddings: file.info("output.weight") == nil,
            ropeScaling: try ropeScaling(file, headDim: heads > 0 ? hidden / heads : 0))
        do {
            try config.validate()
        } catch let error as ModelError {
            throw GGUFError(file.path, "metadata gives an invalid model: \(error.message)")
        }
        return config
    }

    /// `llama.rope.scaling.type`: `none` (or absent) → nil, or the `llama3` scaling `rope_freqs.weight`
    /// encodes; `linear` → `.linear(factor)`; others refused by name.
    static func ropeScaling(_ file: GGUFFile, headDim: Int) throws -> RopeScaling? {
        guard let kind = try file.string("llama.rope.scaling.type"), kind != "none" else {
            if let factor = try file.double("llama.rope.scale_linear"), factor != 1 { return .linear(factor: factor) }
            return try file.info("rope_freqs.weight").flatMap { try llama3Scaling(file, $0, headDim: headDim) }
        }
        if file.info("rope_freqs.weight") != nil {
            throw GGUFError(file.path, "gives both llama.rope.scaling.type '\(kind)' and tensor 'rope_freqs.weight'; keep one")
        }
        guard kind == "linear" else {
            throw GGUFError(file.path, "llama.rope.scaling.type '\(kind)' is not supported (supported: none, linear); running it as plain RoPE would give wrong frequencies")
        }
        let scaling = RopeScaling.linear(factor: try file.require("llama.rope.scaling.factor", file.double))
        do { try scaling.validate() } catch let error as ModelError { throw GGUFError(file.path, error.message) }
        return scaling
    }

    /// llama.cpp's converter stores LLaMA 3.1's `llama3` rope scaling as one divisor per rotation pair
    /// (`rope_freqs.weight`, D/2 values: the pair's inverse frequency becomes f / divisor) and no
    /// parameters. The parameters are recovered — `factor` is the largest divisor; with `low_freq_factor`
    /// fixed at 1 (scaling all three band parameters alike changes no frequency), two divisors strictly
    /// between 1 and `factor` fix `high_freq_factor` and `original_max_position_embeddings`; else
    /// LLaMA 3.1's 1, 4, 8192 — and accepted only when `RopeScaling.llama3` gives back every divisor.
    static func llama3Scaling(_ file: GGUFFile, _ info: GGUFTensorInfo, headDim: Int) throws -> RopeScaling? {
        let theta = try file.double("llama.rope.freq_base") ?? 10000
        guard info.dimensions == [headDim / 2] else {
            throw GGUFError(file.path, "tensor 'rope_freqs.weight' has dimensions \(info.dimensions), expected [\(headDim / 2)] (one per rotation pair)")
        }
        var stored = [Float](repeating: 0, count: headDim / 2)
        stored.withUnsafeMutableBufferPointer { out in
            file.withBytes(of: info) { GGUFDequantization.dequantize(info.type, $0, count: out.count, into: out.baseAddress!) }
        }
        let divisors = stored.map(Double.init), f = RopeScaling.unscaledInverseFrequencies(headDim: headDim, theta: theta)
        guard let factor = divisors.max(), divisors.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw GGUFError(file.path, "tensor 'rope_freqs.weight' holds divisors that are not positive numbers")
        }
        if divisors.allSatisfy({ $0 == 1 }) { return nil }
        var candidates = [RopeScaling.Llama3(factor: factor, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192)]
        // In the smooth band 1/divisor = (1 − s)/factor + s with s = old/λ − low over (high − low), linear in 1/λ = f/2π.
        let smooth = divisors.indices.filter { divisors[$0] > 1 + 1e-6 && divisors[$0] < factor * (1 - 1e-6) }
        if let first = smooth.first, let last = smooth.last, first != last {
            let s = { (i: Int) in (1 / divisors[i] - 1 / factor) / (1 - 1 / factor) }, x = { (i: Int) in f[i] / (2 * Double.pi) }
            let slope = (s(last) - s(first)) / (x(last) - x(first)), offset = slope * x(first) - s(first)  // s = slope·x − offset
            if offset > 0, slope > 0, (slope / offset).isFinite, slope / offset < 1e12 {
                candidates.insert(.init(factor: factor, lowFreqFactor: 1, highFreqFactor: ((1 + 1 / offset) * 1e4).rounded() / 1e4,
                                        originalMaxPositionEmbeddings: Int((slope / offset).rounded())), at: 0)
            }
        }
        for candidate in candidates {
            let scaled = RopeScaling.llama3(candidate).apply(to: f)
            if zip(zip(f, scaled), divisors).allSatisfy({ abs($0.0 / $0.1 - $1) <= 1e-5 * $1 }) { return .llama3(candidate) }
        }
        throw GGUFError(file.path, "tensor 'rope_freqs.weight' holds RoPE frequency divisors that no llama3 rope scaling reproduces; they are not supported")
    }

    /// Loads the GGUF file at `path`, every weight dequantized to fp32 then converted to `T`.
    /// - Parameter norm: nil or `pre` (a GGUF LLaMA is Pre-LN); anything else is refused.
    /// - Throws: `GGUFError` for a malformed file, a tensor that is missing, misshapen or not part
    ///   of a LLaMA model, or metadata that does not make a model.
    public static func load<T: TensorScalar>(_ path: String, norm: String? = nil, as: T.Type = Float.self) throws -> Transformer<T> {
        let file = try GGUFFile(path: path)
        let config = try config(file)
        if let norm, norm != "pre" {
            throw ModelError.invalidNormScheme("\(path): a GGUF LLaMA model is Pre-LN (llama.cpp's graph normalizes each sublayer's input); --norm \(norm) does not apply")
        }
        let plan = try NormScheme.plan("pre", layers: config.numHiddenLayers)
        let layout = ParameterLayout(config: config, plan: plan)
        let names = ggufNames(layers: config.numHiddenLayers, tied: config.tieWordEmbeddings)
        let expected = Set(names.values).union(["rope_freqs.weight"])  // read into the config
        if let unexpected = file.tensors.first(where: { !expected.contains($0.name) }) {
            throw GGUFError(path, "unexpected tensor '\(unexpected.name)' for a LLaMA model of \(config.numHiddenLayers) layers")
        }
        let model = try Transformer<T>(config: config, plan: plan)
        var values: [Float] = []
        for tensor in layout.tensors {
            let name = names[tensor.name]!
            guard let info = file.info(name) else { throw GGUFError(path, "missing tensor '\(name)' (\(tensor.name))") }
            guard info.shape == tensor.shape else {
                throw GGUFError(path, "tensor '\(name)' has shape \(info.shape) (GGUF dimensions \(info.dimensions), innermost first), expected \(tensor.shape)")
            }
            values = [Float](repeating: 0, count: tensor.count)
            values.withUnsafeMutableBufferPointer { out in
                file.withBytes(of: info) { GGUFDequantization.dequantize(info.type, $0, count: tensor.count, into: out.baseAddress!) }
            }
            switch tensor.role {
            case .query: values = unpermuteRows(values, heads: config.numAttentionHeads, columns: config.hiddenSize)
            case .key: values = unpermuteRows(values, heads: config.numKeyValueHeads, columns: config.hiddenSize)
            default: break
            }
            let out = model.parameters.pointer + tensor.offset
            for i in 0..<tensor.count { out[i] = T(values[i]) }
        }
        return model
    }

    /// Undoes llama.cpp's `permute` of a q or k projection (heads·D, columns): its row h·D + 2i + s
    /// (rotation pair i, half s of head h) goes back to row h·D + s·D/2 + i.
    public static func unpermuteRows(_ w: [Float], heads: Int, columns: Int) -> [Float] {
        let rows = w.count / columns, D = rows / heads
        var out = w
        for h in 0..<heads {
            for i in 0..<(D / 2) {
                for s in 0..<2 {
                    let from = (h * D + 2 * i + s) * columns, to = (h * D + s * D / 2 + i) * columns
                    for c in 0..<columns { out[to + c] = w[from + c] }
                }
            }
        }
        return out
    }
}
