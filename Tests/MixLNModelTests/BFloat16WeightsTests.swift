import Foundation
import XCTest
import MixLNTensor
@testable import MixLNModel

/// Weights kept in bf16 (widened per matmul) against the same bf16 file widened once into fp32:
/// widening is exact and every kernel sees the same values, so the two must agree bit for bit.
final class BFloat16WeightsTests: XCTestCase {
    var directory: String!
    let tokens: [Int32] = [3, 17, 29, 0, 8, 8, 21, 5, 1, 2, 3, 4]

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("bf16-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    /// Grouped-query attention (4 query heads on 2 key/value heads) and a tied head, as TinyLlama and LLaMA-2 have the former.
    func config(tied: Bool) -> ModelConfig {
        ModelConfig(hiddenSize: 32, intermediateSize: 48, numAttentionHeads: 4, numHiddenLayers: 3, vocabSize: 40,
                    maxSequenceLength: 16, numKeyValueHeads: 2, tieWordEmbeddings: tied)
    }

    func saveBF16(_ scheme: String, tied: Bool) throws {
        let model = try Transformer<Float>(config: config(tied: tied), plan: NormScheme.plan(scheme, layers: 3))
        model.initializeWeights(seed: 7)
        for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= 5 }
        // Norm weights away from 1, so reading them wrong would show.
        for tensor in model.layout.tensors where tensor.shape.count == 1 {
            for i in 0..<tensor.count { model.parameters[tensor.offset + i] = 1 + Float(i % 5) / 8 }
        }
        try ModelDirectory.save(model, to: directory, dtype: .bfloat16)
    }

    /// Logits (B·T, V) and every layer input of one forward with ignored targets (logits stay logits).
    func outputs(_ model: Transformer<Float>) throws -> (logits: [Float], layerInputs: [[Float]]) {
        try model.forward(tokens: tokens, targets: Array(repeating: CrossEntropy.ignoreIndex, count: tokens.count),
                          batch: 2, seqLen: tokens.count / 2)
        let C = model.config.hiddenSize, N = tokens.count
        let inputs = (0...model.config.numHiddenLayers).map { Array(UnsafeBufferPointer(start: model.layerInput($0), count: N * C)) }
        return (model.activations!.logits.array, inputs)
    }

    func testBF16StorageGivesExactlyTheLogitsOfTheWidenedModel() throws {
        for (scheme, tied) in [("pre", true), ("pre", false), ("sandwich", true), ("peri", false), ("mix:1", true),
                               ("dyt-peri", false), ("dyt-mix:1", true)] {
            try saveBF16(scheme, tied: tied)
            let widened: Transformer<Float> = try ModelDirectory.load(directory, weights: .fp32)
            let kept: Transformer<Float> = try ModelDirectory.load(directory, weights: .bf16)
            XCTAssertEqual(kept.weightPrecision, .bf16)
            XCTAssertEqual(kept.parameters.count, 0, "no fp32 copy of the weights")
            XCTAssertEqual(kept.gradients.count, 0, "no gradients")
            let expected = try outputs(widened), got = try outputs(kept)
            XCTAssertEqual(got.logits.map(\.bitPattern), expected.logits.map(\.bitPattern), "\(scheme) tied \(tied)")
            XCTAssertEqual(got.layerInputs.map { $0.map(\.bitPattern) }, expected.layerInputs.map { $0.map(\.bitPattern) }, scheme)
            let targets = tokens.map { ($0 + 1) % 40 }
            XCTAssertEqual(try kept.forward(tokens: tokens, targets: targets, batch: 2, seqLen: 6),
                           try widened.forward(tokens: tokens, targets: targets, batch: 2, seqLen: 6), scheme)
        }
    }

    func testLayerRemovalOnBF16Storage() throws {
        try saveBF16("pre", tied: true)
        let widened: Transformer<Float> = try ModelDirectory.load(directory, weights: .fp32)
        let kept: Transformer<Float> = try ModelDirectory.load(directory, weights: .bf16)
        widened.skippedLayers = [1]
        kept.skippedLayers = [1]
        XCTAssertEqual(try outputs(kept).logits, try outputs(widened).logits)
    }

    func testGeneratorOnBF16StorageMatchesTheWidenedModel() throws {
        try saveBF16("pre", tied: true)
        let widened = TextGenerator(model: try ModelDirectory.load(directory, weights: .fp32) as Transformer<Float>)
        let kept = TextGenerator(model: try ModelDirectory.load(directory, weights: .bf16) as Transformer<Float>)
        for token in tokens {
            try widened.feed(token)
            try kept.feed(token)
            XCTAssertEqual(kept.logits.array.map(\.bitPattern), widened.logits.array.map(\.bitPattern), "token \(token)")
        }
        let options = SamplingOptions(temperature: 0.8, topK: 5, seed: 3)
        XCTAssertEqual(try kept.generate(prompt: [1, 2, 3], maxNewTokens: 8, options: options),
                       try widened.generate(prompt: [1, 2, 3], maxNewTokens: 8, options: options))
    }

    func testSavingABF16ModelWritesTheSameBits() throws {
        try saveBF16("sandwich", tied: false)
        let path = (directory as NSString).appendingPathComponent(ModelDirectory.weightsFile)
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let kept: Transformer<Float> = try ModelDirectory.load(directory, weights: .bf16)
        let copy = (directory as NSString).appendingPathComponent("copy")
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        try ModelDirectory.save(kept, to: copy, dtype: .bfloat16)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: (copy as NSString).appendingPathComponent(ModelDirectory.weightsFile))), original)
    }

    /// A header whose length is odd puts every tensor at an odd address: they are copied, not read in place.
    func testUnalignedTensorsAreCopied() throws {
        try saveBF16("pre", tied: true)
        let widened: Transformer<Float> = try ModelDirectory.load(directory, weights: .fp32)
        let path = (directory as NSString).appendingPathComponent(ModelDirectory.weightsFile)
        let file = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = Int(file.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) })
        var shifted = Data()
        withUnsafeBytes(of: UInt64(headerLength + 1).littleEndian) { shifted.append(contentsOf: $0) }
        shifted.append(file[8..<(8 + headerLength)])
        shifted.append(0x20)
        shifted.append(file[(8 + headerLength)...])
        try shifted.write(to: URL(fileURLWithPath: path))
        let kept: Transformer<Float> = try ModelDirectory.load(directory, weights: .bf16)
        XCTAssertEqual(try outputs(kept).logits, try outputs(widened).logits)
    }

    func testBF16StorageNeedsBF16MatricesAndRefusesF32() throws {
        let model = try Transformer<Float>(config: config(tied: false), plan: NormScheme.plan("pre", layers: 3))
        model.initializeWeights(seed: 1)
        try ModelDirectory.save(model, to: directory, dtype: .float32)
        XCTAssertFalse(try ModelDirectory.storesBFloat16(directory))
        XCTAssertThrowsError(try ModelDirectory.load(directory, weights: .bf16) as Transformer<Float>) {
            XCTAssertTrue("\($0)".contains("is stored as F32"), "\($0)")
        }
        try ModelDirectory.save(model, to: directory, dtype: .bfloat16)
        XCTAssertTrue(try ModelDirectory.storesBFloat16(directory))
    }

    func testDoubleModelsKeepBF16Too() throws {
        try saveBF16("pre", tied: true)
        let widened: Transformer<Double> = try ModelDirectory.load(directory, as: Double.self, weights: .fp32)
        let kept: Transformer<Double> = try ModelDirectory.load(directory, as: Double.self, weights: .bf16)
        let targets = tokens.map { ($0 + 1) % 40 }
        XCTAssertEqual(try kept.forward(tokens: tokens, targets: targets, batch: 1, seqLen: 12),
                       try widened.forward(tokens: tokens, targets: targets, batch: 1, seqLen: 12))
    }
}
