import XCTest
import MixLNTensor
@testable import MixLNModel

/// Forward-only passes keep less, allocate nothing backward-sized, and give exactly the loss of a
/// full forward.
final class ForwardRetentionTests: XCTestCase {
    let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 4, numHiddenLayers: 4,
                             vocabSize: 40, maxSequenceLength: 16, numKeyValueHeads: 2)
    /// Every kind of placement: post then pre (buffers shared by all layers hold a residual only
    /// some layers use), output norms, an embedding norm, skip-path scales.
    let schemes = ["pre", "post", "mix:1", "mix-reversed:2", "sandwich", "peri", "deepnorm", "lns"]

    func model(_ scheme: String) throws -> Transformer<Float> {
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan(scheme, layers: 4))
        model.initializeWeights(seed: 3)
        return model
    }

    /// Three sequences of 12 tokens; the last has 7 real positions.
    func batch() -> (tokens: [Int32], targets: [Int32]) {
        var tokens: [Int32] = [], targets: [Int32] = []
        for (s, length) in [12, 12, 7].enumerated() {
            let ids = (0..<12).map { Int32(($0 * 5 + s * 11 + 1) % 40) }
            tokens += ids
            targets += (0..<12).map { $0 + 1 < length ? ids[$0 + 1] : CrossEntropy.ignoreIndex }
        }
        return (tokens, targets)
    }

    /// Same shapes, same arithmetic: bit for bit the loss of a forward that keeps everything.
    func testEveryRetentionGivesExactlyTheFullForwardsLoss() throws {
        let (tokens, targets) = batch()
        for scheme in schemes {
            let model = try model(scheme)
            let full = try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12)
            for retention in [ForwardRetention.layerInputs, .loss] {
                XCTAssertEqual(try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: retention), full,
                               "\(scheme) \(retention)")
            }
            // The head in chunks of 5 rows (36 rows, 8 chunks). BLAS rounds a row's products differently
            // for another row count (OpenBLAS 0.3.21 sgemm, checked directly), so this is equal to float rounding only.
            model.headChunkElements = 5 * config.vocabSize
            model.releaseActivations()
            XCTAssertEqual(try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: .loss), full,
                           accuracy: 1e-6 * full, "\(scheme), LM head in chunks")
        }
    }

    func testForwardOnlyKeepsNoGradientsNoBackwardScratchAndNoWholeLogits() throws {
        let (tokens, targets) = batch()
        let model = try model("mix:1")
        try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12)
        let full = model.activationBytes
        XCTAssertFalse(model.gradientsAllocated, "a forward alone never allocates gradients")
        model.releaseActivations()
        model.headChunkElements = 5 * config.vocabSize
        try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: .loss)
        let lossOnly = model.activationBytes
        XCTAssertFalse(model.gradientsAllocated)
        XCTAssertFalse(model.backwardScratchAllocated)
        // One layer's buffers instead of four, 3 stream buffers instead of 9, 5 rows of logits instead of 36.
        XCTAssertLessThan(lossOnly * 3, full, "loss-only activations \(lossOnly) B vs \(full) B kept for backward")
        try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: .layerInputs)
        XCTAssertLessThan(model.activationBytes * 2, full)
        model.zeroGradients()
        XCTAssertTrue(model.gradientsAllocated, "the flag sees a real allocation")
    }

    func testBackwardAllocatesItsScratchOnlyWhenRun() throws {
        let (tokens, targets) = batch()
        let model = try model("pre")
        try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12)
        XCTAssertFalse(model.backwardScratchAllocated)
        let before = model.activationBytes
        model.zeroGradients()
        model.backward()
        XCTAssertTrue(model.backwardScratchAllocated)
        XCTAssertGreaterThan(model.activationBytes, before)
    }

    func testResumingFromAKeptLayerInputIsExactlyAWholeForwardWithoutThatLayer() throws {
        let (tokens, targets) = batch()
        for scheme in ["mix:1", "sandwich", "peri"] {
            let model = try model(scheme)
            var expected: [Double] = []
            for l in 0..<4 {
                model.skippedLayers = [l]
                expected.append(try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12))
            }
            model.skippedLayers = []
            let full = try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: .layerInputs)
            let inputs = (0...4).map { Array(UnsafeBufferPointer(start: model.layerInput($0), count: 36 * 16)) }
            for l in [2, 0, 3, 1] {  // any order: the kept inputs are left intact
                model.skippedLayers = [l]
                XCTAssertEqual(model.resumeForward(fromLayer: l), expected[l], "\(scheme) without layer \(l)")
            }
            model.skippedLayers = []
            XCTAssertEqual(model.resumeForward(fromLayer: 0), full, "\(scheme): resuming at 0 with nothing skipped is the full model")
            for l in 0...4 {
                XCTAssertEqual(Array(UnsafeBufferPointer(start: model.layerInput(l), count: 36 * 16)), inputs[l], "\(scheme) input \(l) kept")
            }
        }
    }

    func testOnLayerSeesEveryComputedLayerAndNoSkippedOne() throws {
        let (tokens, targets) = batch()
        let model = try model("sandwich")
        var seen: [Int] = []
        model.onLayer = { seen.append($0.layer) }
        model.skippedLayers = [2]
        try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: .loss)
        XCTAssertEqual(seen, [0, 1, 3])
        model.skippedLayers = []
        seen = []
        try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: .layerInputs)
        model.skippedLayers = [1]
        _ = model.resumeForward(fromLayer: 1)
        XCTAssertEqual(seen, [0, 1, 2, 3, 2, 3])
    }

    func testTextGenerationAllocatesNoGradients() throws {
        let model = try model("mix:1")
        let generator = TextGenerator(model: model)
        _ = try generator.generate(prompt: [1, 2, 3], maxNewTokens: 4, options: SamplingOptions())
        XCTAssertFalse(model.gradientsAllocated)
        XCTAssertEqual(model.activationBytes, 0, "decoding uses its own one-row buffers")
    }
}
