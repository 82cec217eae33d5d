import XCTest
import MixLNModel
import MixLNTensor
@testable import MixLNAnalysis

/// The paper's two key measurements keep full precision on fp32 activations and gradients:
/// sums of squares and cosines are accumulated in Double.
final class MeasurementPrecisionTests: XCTestCase {
    /// A one-layer Pre-LN fp32 model with zeroed gradients.
    func tinyModel(hidden: Int, vocab: Int) throws -> Transformer<Float> {
        let config = ModelConfig(hiddenSize: hidden, intermediateSize: 8, numAttentionHeads: 2, numHiddenLayers: 1,
                                 vocabSize: vocab, maxSequenceLength: 8, padTokenId: nil)
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: 1))
        model.zeroGradients()
        return model
    }

    /// Gradients far above fp32's √(max) ≈ 1.8e19 give a finite norm, not an overflow read as divergence.
    func testGradientNormOfHugeGradientsIsFinite() throws {
        let model = try tinyModel(hidden: 8, vocab: 16)
        let head = try XCTUnwrap(model.layout.tensors.first { $0.name == "lm_head.weight" })
        for i in 0..<head.count { model.gradients[head.offset + i] = 1e20 }
        let norms = model.gradientNorms()
        let expected = 1e20 * Double(head.count).squareRoot()
        XCTAssertEqual(norms.total, expected, accuracy: 1e-6 * expected)
        XCTAssertEqual(norms.lmHead, expected, accuracy: 1e-6 * expected)
    }

    /// Millions of small entries: an fp32 running sum stalls once it dwarfs each addend; Double does not.
    func testGradientNormOverMillionsOfEntriesIsExact() throws {
        let model = try tinyModel(hidden: 256, vocab: 32768)
        let embedding = try XCTUnwrap(model.layout.tensors.first { $0.name == "model.embed_tokens.weight" })
        XCTAssertEqual(embedding.count, 1 << 23)
        let g = Float(0.1)
        for i in 0..<embedding.count { model.gradients[embedding.offset + i] = g }
        let expected = (Double(embedding.count) * Double(g) * Double(g)).squareRoot()
        // A Double sum of 2²³ terms is good to ~1e-12 relative here; fp32's is off by 4e-4.
        XCTAssertEqual(model.gradientNorms().embedding, expected, accuracy: 1e-10 * expected)
    }

    /// Nearly parallel fp32 vectors (angle 1e-4 rad): acos of an fp32 cosine reads 0 here.
    func testAngularDistanceOfNearlyParallelVectors() {
        let C = 512
        for angle in [1e-4, 1e-3, 0.3] {
            var x = [Float](repeating: 0, count: C), y = [Float](repeating: 0, count: C)
            for c in 0..<C { x[c] = Float(c % 7) - 3; y[c] = x[c] }
            // y = x rotated by `angle` in the plane of coordinates 0 and 1 (x[0] = −3, x[1] = −2).
            let (a, b) = (Double(x[0]), Double(x[1]))
            y[0] = Float(a * cos(angle) - b * sin(angle))
            y[1] = Float(a * sin(angle) + b * cos(angle))
            // The exact angle between the fp32 vectors as stored: atan2(|x ∧ y|, x·y), where by Lagrange's
            // identity |x ∧ y|² = Σ_{i<j} (x_i y_j − x_j y_i)², and only pairs touching 0 or 1 are non-zero.
            let X = x.map(Double.init), Y = y.map(Double.init)
            var wedgeSquared = 0.0
            for i in 0..<2 {
                for j in (i + 1)..<C {
                    let w = X[i] * Y[j] - X[j] * Y[i]
                    wedgeSquared += w * w
                }
            }
            let dot = zip(X, Y).reduce(0.0) { $0 + $1.0 * $1.1 }
            let exact = atan2(wedgeSquared.squareRoot(), dot) / Double.pi
            let measured = AngularDistance.between(x, y, count: C)
            XCTAssertEqual(measured, exact, accuracy: 1e-4 * exact, "angle \(angle)")
        }
    }
}
