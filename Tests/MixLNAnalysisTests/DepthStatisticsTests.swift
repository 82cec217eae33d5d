import Foundation
import XCTest
import MixLNData
import MixLNModel
import MixLNTensor
@testable import MixLNAnalysis

final class DepthStatisticsTests: XCTestCase {
    func testRowRMS() {
        let cases: [([Float], Double)] = [([3, 4], (12.5).squareRoot()), ([1, -1, 1, -1], 1), ([0, 0, 0], 0), ([2], 2)]
        for (x, expected) in cases {
            XCTAssertEqual(DepthStatistics.rms(x, count: x.count), expected, accuracy: 1e-7, "\(x)")
        }
    }

    func testStreamRMSIsTheMeanOverRealTokensOfEachTokensRMS() throws {
        let model = try AnalysisFixture.model("pre")
        let report = try DepthStatistics.run(model, batches: AnalysisFixture.batches())
        XCTAssertEqual(report.tokens, 10 + 6, "padding positions are left out")
        XCTAssertEqual(report.layers.count, 4)
        // Recompute layer 2's input by hand from the same forward.
        var sum = 0.0
        for (b, length) in [10, 6].enumerated() {
            for t in 0..<length {
                let row = model.layerInput(2) + (b * 10 + t) * 16
                sum += ((0..<16).reduce(0.0) { $0 + Double(row[$1]) * Double(row[$1]) } / 16).squareRoot()
            }
        }
        XCTAssertEqual(report.layers[2].inputRMS, sum / 16, accuracy: 1e-6, "Float dot products")
        // The embedding is N(0, √(2/5)): the stream entering layer 0 has RMS near 0.63.
        XCTAssertEqual(report.layers[0].inputRMS, (0.4).squareRoot(), accuracy: 0.15)
        // Pre-LN adds f itself: output and update are the same buffer.
        for layer in report.layers {
            XCTAssertEqual(layer.attentionOutputRMS, layer.attentionUpdateRMS)
            XCTAssertEqual(layer.mlpOutputRMS, layer.mlpUpdateRMS)
        }
    }

    func testZeroProjectionsMakeALayerAddNothing() throws {
        let model = try AnalysisFixture.model("pre")
        for name in ["model.layers.1.self_attn.o_proj.weight", "model.layers.1.mlp.down_proj.weight"] {
            let t = try XCTUnwrap(model.layout.tensor(named: name))
            (model.parameters.pointer + t.offset).update(repeating: 0, count: t.count)
        }
        let report = try DepthStatistics.run(model, batches: AnalysisFixture.batches())
        XCTAssertEqual(report.layers[1].attentionOutputRMS, 0)
        XCTAssertEqual(report.layers[1].mlpUpdateRMS, 0)
        XCTAssertEqual(report.layers[1].inputRMS, report.layers[1].mlpInputRMS, accuracy: 1e-12)
        XCTAssertEqual(report.layers[1].inputRMS, report.layers[2].inputRMS, accuracy: 1e-12)
    }

    func testNormalizedStreamsAndUpdatesHaveUnitRMS() throws {
        // Unit-weight RMSNorm output has RMS √(m/(m+ε)), m the input's mean square: 1 up to ε. Post-LN's
        // stream after every sublayer and Sandwich's updates (output norm) are normalized. At init a
        // sublayer's f is tiny (m ≈ 1e-6 for the MLP), so Sandwich is checked with ε = 1e-12.
        let post = try DepthStatistics.run(try AnalysisFixture.model("post"), batches: AnalysisFixture.batches())
        for layer in post.layers {
            XCTAssertEqual(layer.mlpInputRMS, 1, accuracy: 1e-3)
        }
        XCTAssertEqual(post.outputRMS, 1, accuracy: 1e-3)
        let sandwich = try DepthStatistics.run(try AnalysisFixture.model("sandwich", eps: 1e-12), batches: AnalysisFixture.batches())
        for layer in sandwich.layers {
            XCTAssertEqual(layer.attentionUpdateRMS, 1, accuracy: 1e-3)
            XCTAssertEqual(layer.mlpUpdateRMS, 1, accuracy: 1e-3)
            XCTAssertNotEqual(layer.attentionOutputRMS, layer.attentionUpdateRMS, "f itself is not normalized")
        }
    }
}
