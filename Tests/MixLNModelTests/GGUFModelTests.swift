import Foundation
import MixLNGGUF
import MixLNTensor
import MixLNTestSupport
import XCTest
@testable import MixLNModel

/// A model written as GGUF (as llama.cpp's converter writes it: permuted q/k rows, GGUF names,
/// dimensions innermost first) loads as the same model saved as safetensors.
final class GGUFModelTests: GGUFTestCase {
    /// Row lengths of 256 so every K-quant fits; eps and theta exact in float32 (GGUF stores them so).
    func config(layers: Int = 1, kvHeads: Int = 2, tied: Bool = false) -> ModelConfig {
        ModelConfig(hiddenSize: 256, intermediateSize: 256, numAttentionHeads: 4, numHiddenLayers: layers, vocabSize: 48,
                    maxSequenceLength: 64, rmsNormEps: 0x1p-20, ropeTheta: 10000, padTokenId: nil,
                    numKeyValueHeads: kvHeads, tieWordEmbeddings: tied)
    }

    func randomModel(_ config: ModelConfig) throws -> Transformer<Float> {
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: config.numHiddenLayers))
        model.initializeWeights(seed: 7)
        // Norm weights other than 1, so a misplaced norm would show.
        var rng = RandomSource(seed: 11)
        for tensor in model.layout.tensors where tensor.shape.count == 1 {
            for i in 0..<tensor.count { model.parameters.pointer[tensor.offset + i] = Float(0.5 + rng.nextUniform()) }
        }
        return model
    }

    /// Writes `model` as llama.cpp would: matrices as `type`, norms F32, q/k permuted unless told.
    /// Returns the path and the model's weights as the file stores them (each matrix quantized and dequantized).
    func writeGGUF(_ model: Transformer<Float>, matrices type: GGMLType = .f32, permute: Bool = true,
                   edit: (inout GGUFWriter) -> Void = { _ in }) throws -> (path: String, stored: [Float]) {
        let c = model.config
        var writer = GGUFWriter()
        writer.add("general.architecture", string: "llama")
        writer.add("llama.embedding_length", uint32: UInt32(c.hiddenSize))
        writer.add("llama.feed_forward_length", uint32: UInt32(c.intermediateSize))
        writer.add("llama.block_count", uint32: UInt32(c.numHiddenLayers))
        writer.add("llama.attention.head_count", uint32: UInt32(c.numAttentionHeads))
        writer.add("llama.attention.head_count_kv", uint32: UInt32(c.numKeyValueHeads))
        writer.add("llama.attention.layer_norm_rms_epsilon", float32: Float(c.rmsNormEps))
        writer.add("llama.rope.freq_base", float32: Float(c.ropeTheta))
        writer.add("llama.context_length", uint32: UInt32(c.maxSequenceLength))
        writer.add("llama.vocab_size", uint32: UInt32(c.vocabSize))
        edit(&writer)
        let original = model.parameters.array
        var stored = original
        let names = GGUFModel.ggufNames(layers: c.numHiddenLayers, tied: c.tieWordEmbeddings)
        for tensor in model.layout.tensors {
            var values = Array(original[tensor.offset..<(tensor.offset + tensor.count)])
            let tensorType = tensor.shape.count == 1 ? GGMLType.f32 : type
            var bytes = GGUFQuantizer.encode(values, as: tensorType)
            // What the file holds, read back in the model's own row order.
            bytes.withUnsafeBytes { GGUFDequantization.dequantize(tensorType, $0, count: values.count, into: &values) }
            stored.replaceSubrange(tensor.offset..<(tensor.offset + tensor.count), with: values)
            let heads = tensor.role == .query ? c.numAttentionHeads : tensor.role == .key ? c.numKeyValueHeads : nil
            if let heads, permute {
                bytes = GGUFQuantizer.encode(GGUFWriter.llamaCppPermute(Array(original[tensor.offset..<(tensor.offset + tensor.count)]),
                                                                        heads: heads, columns: c.hiddenSize), as: tensorType)
            }
            writer.addTensor(names[tensor.name]!, dimensions: tensor.shape.reversed(), type: tensorType.rawValue, bytes: bytes)
        }
        let path = (directory as NSString).appendingPathComponent("model-\(type.name)-\(UUID().uuidString.prefix(6)).gguf")
        try writer.write(to: path)
        return (path, stored)
    }

    /// Logits (B·T, V) of a fixed batch.
    func logits(_ model: Transformer<Float>) throws -> [Float] {
        let V = Int32(model.config.vocabSize), T = 9
        let tokens = (0..<(2 * T)).map { Int32(($0 * 7 + 3) % Int(V)) }
        // Every target ignored: the head's buffer keeps every row's logits (with targets it holds probabilities).
        try model.forward(tokens: tokens, targets: Array(repeating: CrossEntropy.ignoreIndex, count: tokens.count), batch: 2, seqLen: T)
        let logits = model.activations!.logits.array
        XCTAssertGreaterThanOrEqual(logits.count, tokens.count * Int(V), "one chunk holds every row's logits")
        return Array(logits.prefix(tokens.count * Int(V)))
    }

    /// The model with `weights`, saved as safetensors and loaded back.
    func safetensorsModel(_ config: ModelConfig, weights: [Float]) throws -> Transformer<Float> {
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: config.numHiddenLayers))
        model.parameters.pointer.update(from: weights, count: weights.count)
        let folder = (directory as NSString).appendingPathComponent("st-\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try ModelDirectory.save(model, to: folder)
        return try ModelDirectory.load(folder)
    }

    func testEveryTypeGivesTheLogitsOfItsDequantizedWeights() throws {
        let config = config()
        let model = try randomModel(config)
        let original = model.parameters.array
        // Relative RMS error of the stored matrices: what each encoding costs (F32 nothing).
        let bounds: [GGMLType: Double] = [.f32: 0, .f16: 1e-3, .bf16: 5e-3, .q8_0: 0.01, .q8_K: 0.01, .q6_K: 0.03,
                                          .q5_0: 0.05, .q5_1: 0.05, .q5_K: 0.05, .q4_0: 0.1, .q4_1: 0.1, .q4_K: 0.1,
                                          .q3_K: 0.25, .q2_K: 0.5]
        for type in GGMLType.allCases {
            let (path, stored) = try writeGGUF(model, matrices: type)
            let loaded: Transformer<Float> = try GGUFModel.load(path)
            XCTAssertEqual(loaded.config, config, type.name)
            XCTAssertEqual(loaded.parameters.array, stored, "\(type.name): weights are not the file's dequantized values")
            XCTAssertEqual(try logits(loaded), try logits(safetensorsModel(config, weights: stored)), type.name)
            let error = zip(stored, original).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
            let size = original.reduce(0.0) { $0 + Double($1 * $1) }
            XCTAssertLessThanOrEqual((error / size).squareRoot(), bounds[type]!, type.name)
        }
    }

    func testF32IsExactlyTheSafetensorsModel() throws {
        for (kvHeads, tied) in [(4, false), (2, true), (1, false)] {  // MHA untied, GQA tied, MQA
            let config = config(layers: 2, kvHeads: kvHeads, tied: tied)
            let model = try randomModel(config)
            let loaded: Transformer<Float> = try GGUFModel.load(try writeGGUF(model).path)
            XCTAssertEqual(loaded.config.tieWordEmbeddings, tied)
            XCTAssertEqual(loaded.config.numKeyValueHeads, kvHeads)
            XCTAssertEqual(loaded.parameters.array, model.parameters.array, "kv \(kvHeads) tied \(tied)")
            XCTAssertEqual(try logits(loaded), try logits(safetensorsModel(config, weights: model.parameters.array)))
        }
    }

    /// Without undoing llama.cpp's permutation the attention would rotate the wrong pairs: a file
    /// written without it (rows already half-split) must give other logits.
    func testQueryKeyPermutationIsUndone() throws {
        let config = config(layers: 2)
        let model = try randomModel(config)
        // Sharper attention than the 0.02 init gives, so rotating the wrong pairs shows in the logits.
        for tensor in model.layout.tensors where tensor.role == .query || tensor.role == .key {
            for i in 0..<tensor.count { model.parameters.pointer[tensor.offset + i] *= 30 }
        }
        let reference = try logits(model)
        XCTAssertEqual(try logits(GGUFModel.load(try writeGGUF(model, permute: true).path)), reference)
        let unpermuted = try logits(GGUFModel.load(try writeGGUF(model, permute: false).path))
        XCTAssertGreaterThan(zip(unpermuted, reference).map { abs($0 - $1) }.max()!, 1e-3)
    }

    /// llama.cpp stores LLaMA 3.1's scaling as per-pair divisors (`rope_freqs.weight`); the loader
    /// recovers the `llama3` parameters that give them back, and refuses divisors none gives.
    func testRopeFrequencyDivisorsBecomeLlama3Scaling() throws {
        for scaling in [RopeScaling.Llama3(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192),
                        .init(factor: 32, lowFreqFactor: 1, highFreqFactor: 2, originalMaxPositionEmbeddings: 4096)] {
            var config = config()
            config.ropeScaling = .llama3(scaling)
            let model = try randomModel(config)
            let f = RopeScaling.unscaledInverseFrequencies(headDim: config.headDim, theta: config.ropeTheta)
            let divisors = zip(f, RopeScaling.llama3(scaling).apply(to: f)).map { Float($0 / $1) }
            let path = try writeGGUF(model) {
                $0.addTensor("rope_freqs.weight", dimensions: [divisors.count], type: GGMLType.f32.rawValue,
                             bytes: GGUFQuantizer.encode(divisors, as: .f32))
            }.path
            let loaded: Transformer<Float> = try GGUFModel.load(path)
            XCTAssertEqual(loaded.config.ropeScaling, .llama3(scaling))
            XCTAssertEqual(try logits(loaded), try logits(safetensorsModel(config, weights: model.parameters.array)))
        }
        let path = try writeGGUF(try randomModel(config())) {
            $0.addTensor("rope_freqs.weight", dimensions: [32], type: GGMLType.f32.rawValue,
                         bytes: GGUFQuantizer.encode((0..<32).map { 1 + Float($0 % 3) }, as: .f32))
        }.path
        XCTAssertThrowsError(try GGUFModel.load(path) as Transformer<Float>) {
            XCTAssertTrue("\($0)".contains("no llama3 rope scaling reproduces"), "\($0)")
        }
    }

    func testUnpermuteInvertsTheConvertersPermute() {
        let w = (0..<(3 * 8 * 5)).map(Float.init)  // 3 heads of D = 8, 5 columns
        let permuted = GGUFWriter.llamaCppPermute(w, heads: 3, columns: 5)
        XCTAssertNotEqual(permuted, w)
        XCTAssertEqual(Array(permuted[5..<10]), Array(w[20..<25]), "row 1 (pair 0, second half) comes from row D/2 = 4")
        XCTAssertEqual(GGUFModel.unpermuteRows(permuted, heads: 3, columns: 5), w)
    }
}
