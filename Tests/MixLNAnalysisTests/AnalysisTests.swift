import Foundation
import XCTest
import MixLNData
import MixLNModel
import MixLNTensor
@testable import MixLNAnalysis

final class AnalysisTests: XCTestCase {
    func testAngularDistanceOfKnownAngles() {
        let cases: [([Double], [Double], Double)] = [
            ([1, 0], [1, 0], 0), ([1, 0], [0, 1], 0.5), ([1, 0], [-1, 0], 1), ([1, 0], [1, 1], 0.25),
            ([2, 0, 0], [1, 3.0.squareRoot(), 0], 1.0 / 3), ([0, 0], [1, 0], 0.5),  // zero vector: cos 0, as PyTorch
        ]
        for (x, y, expected) in cases {
            XCTAssertEqual(AngularDistance.between(x, y, count: x.count), expected, accuracy: 1e-12, "\(x) vs \(y)")
        }
    }

    func testAngularTableCountsRealTokensAndMatchesHandComputation() throws {
        let model = try AnalysisFixture.model("mix:1")
        let report = try AngularDistance.run(model, batches: AnalysisFixture.batches())
        XCTAssertEqual(report.tokens, 10 + 6)
        XCTAssertEqual(report.distances.count, 4 + 3 + 2 + 1)
        // Recompute (ℓ=1, n=2) by hand from the layer inputs of the same forward.
        var sum = 0.0
        for (b, length) in [10, 6].enumerated() {
            for t in 0..<length {
                let row = (b * 10 + t) * 16
                sum += AngularDistance.between(UnsafePointer(model.layerInput(1) + row), UnsafePointer(model.layerInput(3) + row), count: 16)
            }
        }
        XCTAssertEqual(try XCTUnwrap(report.distance(layer: 1, n: 2)), sum / 16, accuracy: 1e-12)
        let last = try AngularDistance.run(model, batches: AnalysisFixture.batches(), lastTokenOnly: true)
        XCTAssertEqual(last.tokens, 2)
        for entry in report.distances { XCTAssertTrue((0...1).contains(entry.distance)) }
    }

    func testRemovingALayerWhoseSublayersOutputZeroChangesNothing() throws {
        let model = try AnalysisFixture.model("pre")
        // Pre-LN layer 2 with zero o_proj and down_proj adds nothing to the stream: it is the identity.
        let o = model.layout.tensor(named: "model.layers.2.self_attn.o_proj.weight")!
        let down = model.layout.tensor(named: "model.layers.2.mlp.down_proj.weight")!
        for t in [o, down] { (model.parameters.pointer + t.offset).update(repeating: 0, count: t.count) }
        let report = try LayerRemoval.run(model, batches: AnalysisFixture.batches())
        XCTAssertEqual(report.layers[2].deltaPerplexity, 0, accuracy: 1e-9)
        XCTAssertEqual(report.layers[2].loss, report.baseline.loss, accuracy: 1e-9)
        XCTAssertNotEqual(report.layers[1].deltaPerplexity, 0, "removing a working layer changes the loss")
        XCTAssertEqual(report.tokens, 14)
        XCTAssertTrue(model.skippedLayers.isEmpty, "the model is left whole")
    }

    func testGradNormTotalsAreTheRootOfSummedSquares() throws {
        let model = try AnalysisFixture.model("sandwich")
        let report = try GradientNormAnalysis.run(model, batches: AnalysisFixture.batches())
        let all = model.gradients.array.reduce(0.0) { $0 + Double($1) * Double($1) }
        XCTAssertEqual(report.norms.total, all.squareRoot(), accuracy: 1e-6 * all.squareRoot())
        let perTensor = report.norms.parameters.values.reduce(0.0) { $0 + $1 * $1 }
        XCTAssertEqual(report.norms.total, perTensor.squareRoot(), accuracy: 1e-9)
        for layer in report.norms.layers {
            let parts = layer.attention * layer.attention + layer.mlp * layer.mlp + layer.norms * layer.norms
            XCTAssertEqual(layer.gradNorm, parts.squareRoot(), accuracy: 1e-12)
        }
        XCTAssertEqual(report.tokens, 14)
    }

    func testEmptyDataIsAnError() throws {
        let model = try AnalysisFixture.model("pre")
        let empty = TokenBatch(batchSize: 1, seqLen: 4, tokens: [1, 2, 3, 4], targets: Array(repeating: CrossEntropy.ignoreIndex, count: 4),
                               predictedTokenCount: 0)
        XCTAssertThrowsError(try Evaluation.evaluate(model, batches: [empty])) { XCTAssertEqual($0 as? AnalysisError, .noTokens) }
        XCTAssertThrowsError(try GradientNormAnalysis.run(model, batches: [])) { XCTAssertEqual($0 as? AnalysisError, .noTokens) }
    }
}
