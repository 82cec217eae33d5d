import XCTest
import MixLNTensor
@testable import MixLNModel

/// Forward retention in `MatmulPrecision.bf16`: the shared forward-only layer buffers carry their
/// bf16 copies, the chunked LM head rounds only its chunk, and every retention gives the loss of
/// a full bf16 forward.
extension ForwardRetentionTests {
    func bfloat16Model(_ scheme: String) throws -> Transformer<Float> {
        let model = try self.model(scheme)
        model.matmulPrecision = .bf16
        return model
    }

    func testEveryRetentionAndAChunkedHeadGiveTheFullBFloat16ForwardsLoss() throws {
        let (tokens, targets) = batch()
        for scheme in schemes {
            let model = try bfloat16Model(scheme)
            let full = try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12)
            let fp32 = try self.model(scheme).forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12)
            XCTAssertNotEqual(full, fp32, "\(scheme): the products really ran in bf16")
            for retention in [ForwardRetention.layerInputs, .loss] {
                XCTAssertEqual(try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: retention), full,
                               accuracy: 1e-6 * full, "\(scheme) \(retention)")
            }
            // 36 rows in chunks of 5: each chunk is rounded into the (5, C) copy before its product.
            model.headChunkElements = 5 * config.vocabSize
            model.releaseActivations()
            XCTAssertEqual(try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: .loss), full,
                           accuracy: 1e-6 * full, "\(scheme), LM head in chunks")
        }
    }

    func testResumingInBFloat16IsAWholeForwardWithoutThatLayer() throws {
        let (tokens, targets) = batch()
        let model = try bfloat16Model("mix:1")
        model.headChunkElements = 5 * config.vocabSize
        var expected: [Double] = []
        for l in 0..<4 {
            model.skippedLayers = [l]
            expected.append(try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12))
        }
        model.skippedLayers = []
        try model.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: .layerInputs)
        for l in [3, 1, 0, 2] {
            model.skippedLayers = [l]
            XCTAssertEqual(model.resumeForward(fromLayer: l), expected[l], accuracy: 1e-6 * expected[l], "without layer \(l)")
        }
    }

    /// The copies are counted in `activationBytes`: bf16 holds more than fp32 for each retention,
    /// a forward-only bf16 pass still far less than one kept for backward, and backward adds its
    /// scratch with the output-gradient copies.
    func testCopiesAreCountedAndForwardOnlyStaysSmall() throws {
        let (tokens, targets) = batch()
        let bf16 = try bfloat16Model("mix:1"), fp32 = try model("mix:1")
        for model in [bf16, fp32] { model.headChunkElements = 5 * config.vocabSize }
        var bytes: [String: Int] = [:]
        for retention in [ForwardRetention.backward, .layerInputs, .loss] {
            try bf16.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: retention)
            try fp32.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12, retaining: retention)
            XCTAssertGreaterThan(bf16.activationBytes, fp32.activationBytes, "\(retention)")
            bytes["\(retention)"] = bf16.activationBytes
        }
        XCTAssertLessThan(bytes["loss"]! * 3, bytes["backward"]!)
        XCTAssertFalse(bf16.backwardScratchAllocated)
        try bf16.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12)
        try fp32.forward(tokens: tokens, targets: targets, batch: 3, seqLen: 12)
        let before = (bf16: bf16.activationBytes, fp32: fp32.activationBytes)
        for model in [bf16, fp32] {
            model.zeroGradients()
            model.backward()
        }
        XCTAssertTrue(bf16.backwardScratchAllocated)
        // The bf16 scratch adds dOutCopy (N · max(W, 2I)), 2 bytes a value (the LM head's dLogits copy
        // is the chunk's, made by the forward; attention rounds its panels into per-call scratch), and
        // has no fp32 SwiGLU gradient (N, 2I): its backward writes only the bf16 copy.
        let N = 36, c = config
        let width = max(c.hiddenSize + 2 * c.keyValueSize, 2 * c.intermediateSize)
        let copies: Int = 2 * N * width, swigluGradient = 4 * N * 2 * c.intermediateSize
        XCTAssertEqual(bf16.activationBytes - before.bf16, fp32.activationBytes - before.fp32 + copies - swigluGradient)
    }
}
