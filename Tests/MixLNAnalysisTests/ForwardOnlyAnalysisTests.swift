import Foundation
import XCTest
import MixLNData
import MixLNModel
import MixLNTensor
@testable import MixLNAnalysis

/// The forward-only analyses allocate nothing backward-sized, give the same results on batches cut
/// to their longest sequence as on batches padded to the full length, and layer removal reuses the
/// unchanged prefix of the residual stream.
final class ForwardOnlyAnalysisTests: XCTestCase {
    /// Three batches padded to 12 positions: real lengths (12, 5), (7, 9), (4) — the last batch holds one sequence.
    func paddedBatches() -> [TokenBatch] {
        let lengths = [[12, 5], [7, 9], [4]]
        return lengths.enumerated().map { i, batch in
            let sequences = batch.enumerated().map { s, length -> TokenSequence in
                let ids = (0..<12).map { Int32(($0 * 7 + s * 3 + i * 13) % 40) }
                let tokens = (0..<12).map { $0 < length ? ids[$0] : 0 }
                let targets = (0..<12).map { $0 + 1 < length ? ids[$0 + 1] : CrossEntropy.ignoreIndex }
                return TokenSequence(tokens: tokens, targets: targets)
            }
            return TokenBatch(sequences, seqLen: 12)
        }
    }

    func model(_ scheme: String) throws -> Transformer<Float> {
        var config = AnalysisFixture.config
        config.maxSequenceLength = 16
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan(scheme, layers: 4))
        model.initializeWeights(seed: 9)
        return model
    }

    func testForwardOnlyAnalysesAllocateNoGradientsAndNoBackwardScratch() throws {
        let batches = paddedBatches()
        let analyses: [(String, (Transformer<Float>) throws -> Void)] = [
            ("eval", { _ = try Evaluation.evaluate($0, batches: batches) }),
            ("angular", { _ = try AngularDistance.run($0, batches: batches) }),
            ("layer-drop", { _ = try LayerRemoval.run($0, batches: batches) }),
            ("depth", { _ = try DepthStatistics.run($0, batches: batches) }),
            ("logit-lens", { _ = try LogitLens.run($0, batches: batches) }),
        ]
        for (name, analysis) in analyses {
            let model = try model("mix:1")
            try analysis(model)
            XCTAssertFalse(model.gradientsAllocated, "\(name) allocated the gradient buffer")
            XCTAssertFalse(model.backwardScratchAllocated, "\(name) allocated backward scratch")
        }
        let model = try model("mix:1")
        _ = try GradientNormAnalysis.run(model, batches: batches)
        XCTAssertTrue(model.gradientsAllocated && model.backwardScratchAllocated, "grad-norms does need them: the checks can fail")
    }

    func testEvaluationKeepsFarLessThanAForwardForBackward() throws {
        let batches = paddedBatches()
        let model = try model("pre")
        try model.forward(tokens: batches[0].tokens, targets: batches[0].targets, batch: 2, seqLen: 12)
        let forBackward = model.activationBytes
        _ = try Evaluation.evaluate(model, batches: [batches[0]])
        XCTAssertLessThan(model.activationBytes * 2, forBackward)
    }

    /// Padding is ignored by the loss and never attended to from a real position, so cutting it off
    /// changes no result: token counts are equal and every value agrees to float rounding. (Not bit
    /// for bit: BLAS rounds a row's dot products differently for another number of rows — OpenBLAS
    /// 0.3.21's sgemm does, checked directly on (2048 vs 1024)×256·256×688 — so 1e-6 relative.)
    func testBatchesCutToTheirLongestSequenceGiveIdenticalResults() throws {
        let padded = paddedBatches()
        let trimmed = padded.map { $0.trimmedToLongest() }
        XCTAssertEqual(trimmed.map(\.seqLen), [12, 9, 4])
        func close(_ a: [Double], _ b: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
            XCTAssertEqual(a.count, b.count, what, file: file, line: line)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-6 * max(1, abs(x)), what, file: file, line: line) }
        }
        for scheme in ["mix:1", "sandwich", "peri"] {
            let model = try model(scheme)
            let a = try Evaluation.evaluate(model, batches: padded), b = try Evaluation.evaluate(model, batches: trimmed)
            XCTAssertEqual(a.tokens, 11 + 4 + 6 + 8 + 3)
            XCTAssertEqual(a.tokens, b.tokens, "\(scheme): eval tokens")
            close([a.loss, a.perplexity], [b.loss, b.perplexity], "\(scheme): eval")
            let angular = (try AngularDistance.run(model, batches: padded), try AngularDistance.run(model, batches: trimmed))
            XCTAssertEqual(angular.0.tokens, angular.1.tokens)
            XCTAssertEqual(angular.0.distances.map(\.layer), angular.1.distances.map(\.layer))
            close(angular.0.distances.map(\.distance), angular.1.distances.map(\.distance), "\(scheme): angular")
            let depth = (try DepthStatistics.run(model, batches: padded), try DepthStatistics.run(model, batches: trimmed))
            XCTAssertEqual(depth.0.tokens, depth.1.tokens)
            func values(_ r: DepthStatisticsReport) -> [Double] {
                r.layers.flatMap { [$0.inputRMS, $0.mlpInputRMS, $0.attentionOutputRMS, $0.attentionUpdateRMS, $0.mlpOutputRMS, $0.mlpUpdateRMS] } + [r.outputRMS]
            }
            close(values(depth.0), values(depth.1), "\(scheme): depth")
            let drop = (try LayerRemoval.run(model, batches: padded), try LayerRemoval.run(model, batches: trimmed))
            XCTAssertEqual(drop.0.tokens, drop.1.tokens)
            close([drop.0.baseline.loss] + drop.0.layers.map(\.loss), [drop.1.baseline.loss] + drop.1.layers.map(\.loss), "\(scheme): layer-drop")
        }
    }

    /// Layer removal the direct way, as it was done before: one whole forward over every batch per skipped layer.
    func wholeForwardLosses(_ model: Transformer<Float>, _ batches: [TokenBatch]) throws -> [Double] {
        let variants: [Int?] = [nil] + (0..<4).map { $0 }
        return try variants.map { skipped -> Double in
            model.skippedLayers = skipped.map { [$0] } ?? []
            defer { model.skippedLayers = [] }
            var sum = 0.0, count = 0
            for batch in batches {
                let loss = try model.forward(tokens: batch.tokens, targets: batch.targets, batch: batch.batchSize, seqLen: batch.seqLen)
                sum += loss * Double(model.lastPredictedCount)
                count += model.lastPredictedCount
            }
            return sum / Double(count)
        }
    }

    func testLayerDropFromCachedLayerInputsEqualsWholeForwardsExactly() throws {
        let batches = paddedBatches().map { $0.trimmedToLongest() }
        for scheme in ["pre", "mix:1", "sandwich", "peri", "deepnorm"] {
            let model = try model(scheme)
            let expected = try wholeForwardLosses(model, batches)
            let report = try LayerRemoval.run(model, batches: batches)
            XCTAssertEqual(report.baseline.loss, expected[0], "\(scheme) baseline")
            XCTAssertEqual(report.baseline.perplexity, exp(expected[0]))
            XCTAssertEqual(report.layers.map(\.loss), Array(expected.dropFirst()), "\(scheme) without each layer")
            XCTAssertEqual(report.layers.map(\.deltaPerplexity), expected.dropFirst().map { exp($0) - exp(expected[0]) })
            XCTAssertEqual(report.tokens, 32)
        }
    }

    func testLayerDropCostsAtMostHalfTheLayersPlusTwoEvaluations() throws {
        let batches = paddedBatches()
        let model = try model("mix:1")
        var layerPasses = 0
        model.onLayer = { _ in layerPasses += 1 }
        _ = try LayerRemoval.run(model, batches: batches)
        let L = 4
        XCTAssertEqual(layerPasses, batches.count * (L + L * (L - 1) / 2), "one full pass, then each ℓ from its kept input: L(L+1)/2 per batch")
        XCTAssertLessThanOrEqual(Double(layerPasses), Double(L / 2 + 2) * Double(L * batches.count), "the issue's bound, in whole evaluations")
        XCTAssertLessThan(layerPasses, batches.count * L * L, "rerunning the whole model per skipped layer costs L² per batch")
        XCTAssertNotNil(model.onLayer, "the caller's hook is left in place")
        XCTAssertTrue(model.skippedLayers.isEmpty)
    }
}
