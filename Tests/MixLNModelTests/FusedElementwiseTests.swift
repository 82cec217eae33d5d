import Foundation
import MixLNModel
import MixLNTensor
import MixLNTestSupport
import XCTest

/// The fused elementwise kernels (SwiGLU writing its bf16 rounding in the same pass, RoPE's
/// vectorized rotation) against plain loops: the values to float rounding, the bits exactly.
final class FusedElementwiseTests: XCTestCase {
    override func tearDown() {
        Parallel.setThreadCount(Parallel.defaultThreadCount())
        super.tearDown()
    }

    /// Float values from a seeded Double vector.
    private func floats(_ count: Int, seed: UInt64, scale: Double) -> [Float] {
        FiniteDifference.randomVector(count, seed: seed, scale: scale).map(Float.init)
    }

    /// The bf16 bits `roundToBFloat16` gives for `x`.
    private func bits(_ x: [Float]) -> [UInt16] {
        var out = [UInt16](repeating: 0, count: x.count)
        Float.roundToBFloat16(x, into: &out, count: x.count)
        return out
    }

    private func assertRelativelyClose(_ a: [Float], _ b: [Double], tolerance: Double, _ message: String,
                                       file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        for i in a.indices where abs(Double(a[i]) - b[i]) > tolerance * max(1, abs(b[i])) {
            XCTFail("\(message)[\(i)]: \(a[i]) vs \(b[i])", file: file, line: line)
            return
        }
    }

    /// Forward: the fp32 values match a Double reference, and the bf16 output (alone, or beside the
    /// fp32 one) holds exactly the rounding of those values; rows wider than the kernel's 256-value
    /// block and not a multiple of the vector width; more workers than rows.
    func testSwiGLUBitsAreTheRoundingOfItsValues() {
        for threads in [1, 2, 16, 64] {
            Parallel.setThreadCount(threads)
            let N = 3, I = 301
            let gateUp = floats(N * 2 * I, seed: 31, scale: 12)
            var values = [Float](repeating: .nan, count: N * I)
            SwiGLU.forward(out: &values, gateUp: gateUp, rows: N, intermediate: I)
            let reference = (0..<N * I).map { k -> Double in
                let n = k / I, i = k % I, g = Double(gateUp[n * 2 * I + i]), u = Double(gateUp[n * 2 * I + I + i])
                return g * u / (1 + exp(-g))
            }
            assertRelativelyClose(values, reference, tolerance: 2e-6, "SwiGLU values (\(threads) threads)")
            let alone = BFloat16Buffer(count: N * I), beside = BFloat16Buffer(count: N * I)
            SwiGLU.forward(out: nil, outCopy: alone, gateUp: gateUp, rows: N, intermediate: I)
            var again = [Float](repeating: .nan, count: N * I)
            SwiGLU.forward(out: &again, outCopy: beside, gateUp: gateUp, rows: N, intermediate: I)
            XCTAssertEqual(again, values, "the values do not depend on the bf16 output")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: alone.pointer, count: N * I)), bits(values), "bits alone (\(threads) threads)")
            XCTAssertEqual(Array(UnsafeBufferPointer(start: beside.pointer, count: N * I)), bits(values), "bits beside the values")
        }
    }

    /// Backward: as the forward, for the (N, 2I) gradient of gate and up.
    func testSwiGLUBackwardBitsAreTheRoundingOfItsValues() {
        for threads in [1, 2, 16, 64] {
            Parallel.setThreadCount(threads)
            let N = 3, I = 301
            let gateUp = floats(N * 2 * I, seed: 32, scale: 12), dOut = floats(N * I, seed: 33, scale: 2)
            var values = [Float](repeating: .nan, count: N * 2 * I)
            SwiGLU.backward(dGateUp: &values, dOut: dOut, gateUp: gateUp, rows: N, intermediate: I)
            let reference = (0..<N * 2 * I).map { k -> Double in
                let n = k / (2 * I), i = k % (2 * I) % I, isUp = k % (2 * I) >= I
                let g = Double(gateUp[n * 2 * I + i]), u = Double(gateUp[n * 2 * I + I + i]), dy = Double(dOut[n * I + i])
                let sigma = 1 / (1 + exp(-g))
                return isUp ? dy * g * sigma : dy * u * sigma * (1 + g * (1 - sigma))
            }
            assertRelativelyClose(values, reference, tolerance: 1e-5, "SwiGLU gradient (\(threads) threads)")
            let alone = BFloat16Buffer(count: N * 2 * I)
            SwiGLU.backward(dGateUp: nil, dGateUpCopy: alone, dOut: dOut, gateUp: gateUp, rows: N, intermediate: I)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: alone.pointer, count: N * 2 * I)), bits(values), "gradient bits (\(threads) threads)")
        }
    }

    /// The Double path (gradient checks) writes the same bits as rounding its values.
    func testSwiGLUInDoubleRoundsItsValues() {
        let N = 2, I = 5
        let gateUp = FiniteDifference.randomVector(N * 2 * I, seed: 34, scale: 3)
        var values = [Double](repeating: 0, count: N * I)
        SwiGLU.forward(out: &values, gateUp: gateUp, rows: N, intermediate: I)
        let copy = BFloat16Buffer(count: N * I)
        SwiGLU.forward(out: nil, outCopy: copy, gateUp: gateUp, rows: N, intermediate: I)
        var expected = [UInt16](repeating: 0, count: N * I)
        Double.roundToBFloat16(values, into: &expected, count: N * I)
        XCTAssertEqual(Array(UnsafeBufferPointer(start: copy.pointer, count: N * I)), expected)
    }

    /// RoPE's kernel equals the rotation written out in Double, and the inverse undoes it.
    func testRotateHalvesMatchesTheRotationAndItsInverse() {
        let heads = 3, half = 13, stride = 2 * half + 5  // heads apart by more than their width, as q in a qkv row
        let x = floats(heads * stride, seed: 35, scale: 2)
        let angles = FiniteDifference.randomVector(half, seed: 36, scale: 3)
        let cos = angles.map { Float(Foundation.cos($0)) }, sin = angles.map { Float(Foundation.sin($0)) }
        var rotated = x
        Float.rotateHalves(&rotated, heads: heads, headStride: stride, half: half, cos: cos, sin: sin, sign: 1)
        var reference = x.map(Double.init)
        for h in 0..<heads {
            for i in 0..<half {
                let a = Double(x[h * stride + i]), b = Double(x[h * stride + half + i])
                reference[h * stride + i] = a * Double(cos[i]) - b * Double(sin[i])
                reference[h * stride + half + i] = b * Double(cos[i]) + a * Double(sin[i])
            }
        }
        assertRelativelyClose(rotated, reference, tolerance: 1e-6, "rotation (values between heads untouched)")
        Float.rotateHalves(&rotated, heads: heads, headStride: stride, half: half, cos: cos, sin: sin, sign: -1)
        assertRelativelyClose(rotated, x.map(Double.init), tolerance: 1e-6, "inverse rotation")
    }

    /// RMSNorm's backward row kernel (vectorized, its sum reassociated) against the formula in Double,
    /// accumulating into what dx and dw already hold.
    func testRMSNormBackwardRowMatchesTheFormula() {
        let C = 37
        let x = floats(C, seed: 37, scale: 2), dy = floats(C, seed: 38, scale: 1), w = floats(C, seed: 39, scale: 1)
        let start = floats(2 * C, seed: 40, scale: 1)
        var dx = Array(start[..<C]), dw = Array(start[C...])
        let r: Float = 0.8, scale: Float = 0.5
        Float.rmsNormBackwardRow(dx: &dx, dw: &dw, dy: dy, x: x, w: w, r: r, scale: scale, channels: C)
        let gx = (0..<C).reduce(0.0) { $0 + Double(scale) * Double(w[$1]) * Double(dy[$1]) * Double(x[$1]) }
        let k = pow(Double(r), 3) * gx / Double(C)
        let expectedDx = (0..<C).map { Double(start[$0]) + Double(r * scale) * Double(w[$0]) * Double(dy[$0]) - k * Double(x[$0]) }
        let expectedDw = (0..<C).map { Double(start[C + $0]) + Double(scale) * Double(dy[$0]) * Double(x[$0]) * Double(r) }
        assertRelativelyClose(dx, expectedDx, tolerance: 1e-5, "dx")
        assertRelativelyClose(dw, expectedDw, tolerance: 1e-6, "dw")
    }
}
