import XCTest
import MixLNModel
import MixLNTrain

/// The trainer logs `gradientNorms().total` in every `StepRecord` and clips by it, and promises
/// bit-identical runs for a seed. So the total must be summed in an order that is the same in
/// every process: the layout order of the tensors.
///
/// Fails today: `gradientNorms()` (Sources/MixLNModel/GradientNorms.swift) returns
/// `squares.values.reduce(0, +)`, the values of a `[String: Double]` in dictionary order, which
/// depends on the per-process hash seed (and can differ between dictionaries in one process).
///
/// The gradients make the sum order-sensitive on purpose: in trial j tensor j contributes 1 to the
/// sum of squares and every other tensor 1e-16 (below half an ulp of 1), so the result tells how
/// many small terms were added before the large one. Unless the summation order is the layout
/// order, some trial disagrees.
final class GradientNormDeterminismTests: XCTestCase {
    func testTotalIsSummedInLayoutOrder() throws {
        let model = try Fixture.model()
        let tensors = model.layout.tensors
        var mismatches: [String] = []
        for big in tensors.indices {
            model.zeroGradients()
            for (index, tensor) in tensors.enumerated() { model.gradients[tensor.offset] = index == big ? 1 : 1e-8 }
            var squares = 0.0
            for tensor in tensors {
                let g = model.gradients[tensor.offset]
                squares += Double(g * g)  // what `VectorMath.dot` gives for a tensor with one nonzero entry
            }
            let total = model.gradientNorms().total
            if total != squares.squareRoot() { mismatches.append("\(tensors[big].name): \(total) vs \(squares.squareRoot())") }
        }
        XCTAssertEqual(mismatches, [], "\(mismatches.count) of \(tensors.count) trials summed in another order")
    }
}
