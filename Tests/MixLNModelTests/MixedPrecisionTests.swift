import Foundation
import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// `MatmulPrecision.bf16` against fp32 on the PyTorch parity fixtures (every placement), and the
/// bookkeeping of the bf16 copies: the weight copy follows updates, bf16 checkpoint weights are read
/// in place, changing the precision rebuilds the activations, decoding runs in bf16.
///
/// Tolerances. bf16 keeps 8 significant bits, so rounding an input moves it by at most u = 2⁻⁹
/// (≈ 0.2%) relative. A dot product of rounded inputs is off by ≈ u·√2 relative when the errors
/// are independent, and the errors of the products on a path (qkv, scores, PV, o_proj, gate|up,
/// down per layer, the head; as many again in backward) add roughly in quadrature: a gradient
/// tensor lands within a few u of fp32 in relative L2 — these fixtures give at worst 1.6e-2, for a
/// norm weight whose gradient sums many rounded terms — and the loss, a mean over every token,
/// much closer (2.5e-5 here). The bounds: one u for the loss, 20u ≈ 4e-2 per gradient tensor
/// (2.5× the worst seen, a margin for other thread counts and CPUs), still far below what a wrong
/// product gives (a misplaced transpose or a stale weight copy is off by order 1).
///
/// A one-value parameter (DyT's α, an embedding or output scale, a GPAS gate) has as gradient one sum
/// over every token and channel of terms of both signs, which can nearly cancel: DyT's α at some sites
/// of these fixtures sums to a tenth of its neighbours' (2e-6 against 2e-5), and rounding its terms then
/// moves it by 10% of itself while moving the others by well under 1%. So a one-value gradient's error
/// is measured against the larger of itself and the RMS of the model's one-value gradients, the size of
/// such a sum when it does not cancel.
final class MixedPrecisionTests: XCTestCase {
    static let schemes = PyTorchParityTests.schemes
    static let lossTolerance = 0x1p-9      // relative
    static let gradientTolerance = 4e-2    // relative L2 per tensor

    func fixture(_ name: String) throws -> String {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return url.appendingPathComponent("parity").appendingPathComponent(name).path
    }

    func inputs(_ folder: String) throws -> (tokens: [Int32], targets: [Int32], batch: Int, seqLen: Int) {
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/inputs.json"))) as? [String: Any])
        return (try XCTUnwrap(object["input_ids"] as? [Int]).map(Int32.init), try XCTUnwrap(object["targets"] as? [Int]).map(Int32.init),
                try XCTUnwrap(object["batch"] as? Int), try XCTUnwrap(object["seq_len"] as? Int))
    }

    func relativeDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
        var diff = 0.0, norm = 0.0
        for i in 0..<n {
            diff += Double(a[i] - b[i]) * Double(a[i] - b[i])
            norm += Double(b[i]) * Double(b[i])
        }
        return norm == 0 ? diff.squareRoot() : (diff / norm).squareRoot()
    }

    /// Loss and gradients of one forward + backward of the fixture model in `precision`.
    func run(_ name: String, _ precision: MatmulPrecision) throws -> (Transformer<Float>, Double) {
        let folder = try fixture(name)
        let norm = Self.schemes[name]!
        let model: Transformer<Float> = try ModelDirectory.load(folder, norm: norm, postNum: norm == "post_pre" ? 1 : nil)
        model.matmulPrecision = precision
        let input = try inputs(folder)
        model.zeroGradients()
        let loss = try model.forward(tokens: input.tokens, targets: input.targets, batch: input.batch, seqLen: input.seqLen)
        model.backward()
        return (model, loss)
    }

    func testLossAndGradientsWithinToleranceOfFP32OnEveryPlacement() throws {
        var worstLoss = 0.0, worstGradient = 0.0
        for name in Self.schemes.keys.sorted() {
            let (reference, referenceLoss) = try run(name, .fp32)
            let (mixed, mixedLoss) = try run(name, .bf16)
            XCTAssertNotEqual(mixedLoss, referenceLoss, "\(name): bf16 must actually round something")
            let lossError = abs(mixedLoss - referenceLoss) / referenceLoss
            worstLoss = max(worstLoss, lossError)
            XCTAssertLessThan(lossError, Self.lossTolerance, "\(name): loss \(mixedLoss) vs fp32 \(referenceLoss)")
            let scalars = reference.layout.tensors.filter { $0.count == 1 }.map { Double(reference.gradients[$0.offset]) }
            let scalarRMS = scalars.isEmpty ? 0 : (scalars.reduce(0) { $0 + $1 * $1 } / Double(scalars.count)).squareRoot()
            for tensor in reference.layout.tensors {
                let distance: Double
                if tensor.count == 1 {
                    let ours = Double(mixed.gradients[tensor.offset]), theirs = Double(reference.gradients[tensor.offset])
                    distance = abs(ours - theirs) / max(abs(theirs), scalarRMS)
                } else {
                    distance = relativeDistance(mixed.gradients.pointer + tensor.offset, reference.gradients.pointer + tensor.offset, tensor.count)
                }
                worstGradient = max(worstGradient, distance)
                XCTAssertLessThan(distance, Self.gradientTolerance, "\(name): gradient of \(tensor.name)")
            }
        }
        print("bf16 vs fp32 on the parity fixtures: worst loss error \(worstLoss), worst gradient distance \(worstGradient)")
    }

    /// A tiny model with fp32 weights and some training-like spread (weights scaled up from the init).
    func tinyModel(_ scheme: String = "pre", config: ModelConfig? = nil) throws -> Transformer<Float> {
        let config = config ?? ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 2,
                                           vocabSize: 40, maxSequenceLength: 16)
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan(scheme, layers: config.numHiddenLayers))
        model.initializeWeights(seed: 3)
        for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= 5 }
        model.parametersDidChange()
        return model
    }

    static let tokens: [Int32] = [1, 5, 9, 2, 33, 7, 7, 12, 3, 30, 21, 8, 4, 4, 19, 25]
    static var targets: [Int32] { Array(tokens.dropFirst()) + [CrossEntropy.ignoreIndex] }

    /// After an update through the optimizer path (`parametersDidChange`), the bf16 forward reads the
    /// new weights: it equals, bit for bit, the loss of a fresh bf16 model holding the same weights.
    func testWeightCopyFollowsParameterUpdates() throws {
        let model = try tinyModel()
        model.matmulPrecision = .bf16
        let before = try model.forward(tokens: Self.tokens, targets: Self.targets, batch: 2, seqLen: 8)
        for i in 0..<model.parameterCount { model.parameters[i] *= 0.75 }
        model.parametersDidChange()
        let after = try model.forward(tokens: Self.tokens, targets: Self.targets, batch: 2, seqLen: 8)
        XCTAssertNotEqual(after, before)
        let fresh = try tinyModel()
        fresh.parameters.pointer.update(from: model.parameters.pointer, count: model.parameterCount)
        fresh.parametersDidChange()
        fresh.matmulPrecision = .bf16
        XCTAssertEqual(try fresh.forward(tokens: Self.tokens, targets: Self.targets, batch: 2, seqLen: 8), after)
    }

    /// A checkpoint stored in bf16, loaded with bf16 weights (read in place, no fp32 copy, nothing
    /// widened), gives in bf16 precision exactly the logits of the same file loaded as fp32 weights,
    /// whose bf16 copy holds the same bits — for a tied head and grouped-query attention too.
    func testBFloat16CheckpointWeightsFeedTheGEMMsInPlace() throws {
        let configs = [
            ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 2, vocabSize: 40, maxSequenceLength: 16),
            ModelConfig(hiddenSize: 24, intermediateSize: 24, numAttentionHeads: 4, numHiddenLayers: 2, vocabSize: 40,
                        maxSequenceLength: 16, numKeyValueHeads: 2, tieWordEmbeddings: true),
        ]
        for config in configs {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mixln-bf16-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            try ModelDirectory.save(try tinyModel("sandwich", config: config), to: directory, dtype: .bfloat16)
            var logits: [[Float]] = []
            for weights in [WeightPrecision.fp32, .bf16] {
                let model: Transformer<Float> = try ModelDirectory.load(directory, weights: weights)
                XCTAssertEqual(model.weightPrecision, weights)
                model.matmulPrecision = .bf16
                try model.forward(tokens: Self.tokens, targets: Array(repeating: CrossEntropy.ignoreIndex, count: 16), batch: 2, seqLen: 8)
                logits.append(model.activations!.logits.array)
            }
            XCTAssertEqual(logits[0], logits[1], "tied \(config.tieWordEmbeddings)")
        }
    }

    /// Changing the precision drops the activations and the weight copy: fp32 → bf16 → fp32 gives
    /// the first loss again, exactly.
    func testSwitchingPrecisionRebuildsTheBuffers() throws {
        let model = try tinyModel()
        let fp32 = try model.forward(tokens: Self.tokens, targets: Self.targets, batch: 2, seqLen: 8)
        model.matmulPrecision = .bf16
        let bf16 = try model.forward(tokens: Self.tokens, targets: Self.targets, batch: 2, seqLen: 8)
        model.backward()
        model.matmulPrecision = .fp32
        XCTAssertEqual(try model.forward(tokens: Self.tokens, targets: Self.targets, batch: 2, seqLen: 8), fp32)
        XCTAssertNotEqual(bf16, fp32)
    }

    /// Cached decoding in bf16 (projections on bf16 copies, attention over the cache in fp32) follows
    /// the full bf16 forward within bf16 rounding: the logits of every position within 2⁻⁵ of their RMS.
    func testCachedDecodingInBFloat16FollowsTheFullForward() throws {
        let model = try tinyModel("mix:1")
        model.matmulPrecision = .bf16
        let tokens = Array(Self.tokens.prefix(8)), V = model.config.vocabSize
        try model.forward(tokens: tokens, targets: Array(repeating: CrossEntropy.ignoreIndex, count: 8), batch: 1, seqLen: 8)
        let full = model.activations!.logits.array
        let generator = TextGenerator(model: model)
        for (t, token) in tokens.enumerated() {
            try generator.feed(token)
            let row = Array(full[(t * V)..<((t + 1) * V)])
            let rms = (row.reduce(0) { $0 + Double($1) * Double($1) } / Double(V)).squareRoot()
            for v in 0..<V {
                XCTAssertEqual(Double(generator.logits[v]), Double(row[v]), accuracy: 0x1p-5 * rms, "position \(t) id \(v)")
            }
        }
    }
}
