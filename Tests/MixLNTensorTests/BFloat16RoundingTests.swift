import XCTest
import CMixLNKernels
import MixLNTensor
import MixLNTestSupport

/// Rounding to bfloat16: every path (the AVX-512 BF16 instruction where the CPU has it, the portable
/// C loop, the `Float` and `Double` requirements, in-place rounding) gives the bits VCVTNEPS2BF16
/// gives — round to nearest even, subnormals to a zero of their sign, NaN kept NaN — on a table of
/// hand-picked values, and the instruction and the portable loop agree bit for bit on random bits.
final class BFloat16RoundingTests: XCTestCase {
    /// (fp32 bits, expected bf16 bits, what the case checks)
    static let table: [(UInt32, UInt16, String)] = [
        (0x3F80_0000, 0x3F80, "1 is exact"),
        (0x3F80_7FFF, 0x3F80, "just below half an ulp: down"),
        (0x3F80_8000, 0x3F80, "tie, even neighbour below: down"),
        (0x3F80_8001, 0x3F81, "just above half an ulp: up"),
        (0x3F81_8000, 0x3F82, "tie, odd neighbour below: up to even"),
        (0x3F80_FFFF, 0x3F81, "almost a whole ulp: up"),
        (0xBF80_8000, 0xBF80, "negative tie: down in magnitude to even"),
        (0xBFC1_8000, 0xBFC2, "negative tie: up in magnitude to even"),
        (0x3FFF_8000, 0x4000, "rounding up carries into the exponent"),
        (0x7F7F_7FFF, 0x7F7F, "largest finite bf16 stays"),
        (0x7F7F_8000, 0x7F80, "tie above the largest bf16 (odd): infinity"),
        (0x7F7F_FFFF, 0x7F80, "largest float rounds to infinity"),
        (0xFF7F_FFFF, 0xFF80, "most negative float rounds to -infinity"),
        (0x7F80_0000, 0x7F80, "+infinity"),
        (0xFF80_0000, 0xFF80, "-infinity"),
        (0x7FC0_0000, 0x7FC0, "quiet NaN"),
        (0x7F80_0001, 0x7FC0, "signalling NaN whose payload is in the dropped bits: stays NaN (quieted)"),
        (0xFF81_2345, 0xFFC1, "negative NaN keeps sign and top payload, quieted"),
        (0x7FFF_FFFF, 0x7FFF, "NaN with every payload bit"),
        (0x0000_0000, 0x0000, "+0"),
        (0x8000_0000, 0x8000, "-0"),
        (0x0000_0001, 0x0000, "smallest subnormal: +0"),
        (0x807F_FFFF, 0x8000, "largest negative subnormal: -0"),
        (0x0080_0000, 0x0080, "smallest normal is exact"),
        (0x0080_8000, 0x0080, "tie at the smallest normal: even"),
        (0x0081_8000, 0x0082, "tie at the smallest normal + 1 ulp: up to even"),
        (0x4049_0FDB, 0x4049, "pi"),
        (0xC2F7_0000, 0xC2F7, "-123.5 is exact"),
    ]

    func bits(_ x: Float) -> UInt32 { x.bitPattern }
    func hex(_ x: some BinaryInteger) -> String { "0x" + String(x, radix: 16) }

    func testEveryPathRoundsTheTableAsTheInstructionDoes() {
        let inputs = Self.table.map { Float(bitPattern: $0.0) }
        let n = inputs.count
        var dispatched = [UInt16](repeating: 0, count: n), portable = [UInt16](repeating: 0, count: n)
        var viaFloat = [UInt16](repeating: 0, count: n), viaDouble = [UInt16](repeating: 0, count: n)
        mixln_f32_to_bf16(&dispatched, inputs, n)
        mixln_f32_to_bf16_portable(&portable, inputs, n)
        Float.roundToBFloat16(inputs, into: &viaFloat, count: n)
        Double.roundToBFloat16(inputs.map(Double.init), into: &viaDouble, count: n)
        var inPlace = inputs
        Float.roundInPlaceToBFloat16(&inPlace, count: n)
        var inPlaceDouble = inputs.map(Double.init)
        Double.roundInPlaceToBFloat16(&inPlaceDouble, count: n)
        for (i, (input, expected, what)) in Self.table.enumerated() {
            let label = "\(hex(input)) (\(what))"
            XCTAssertEqual(dispatched[i], expected, "dispatched: \(label) gave \(hex(dispatched[i]))")
            XCTAssertEqual(portable[i], expected, "portable: \(label) gave \(hex(portable[i]))")
            XCTAssertEqual(viaFloat[i], expected, "Float: \(label)")
            XCTAssertEqual(viaDouble[i], expected, "Double: \(label)")
            XCTAssertEqual(bits(inPlace[i]), UInt32(expected) << 16, "in place: \(label)")
            XCTAssertEqual(bits(Float(inPlaceDouble[i])), UInt32(expected) << 16, "Double in place: \(label)")
        }
    }

    /// 10,007 random bit patterns (every class of float, a length that leaves a vector tail): the
    /// instruction path (when this CPU has it) and the portable loop agree bit for bit.
    func testInstructionAndPortableLoopAgreeOnRandomBits() {
        var rng = RandomSource(seed: 7)
        let n = 10_007
        let inputs = (0..<n).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        var dispatched = [UInt16](repeating: 0, count: n), portable = [UInt16](repeating: 0, count: n)
        mixln_f32_to_bf16(&dispatched, inputs, n)
        mixln_f32_to_bf16_portable(&portable, inputs, n)
        for i in 0..<n where dispatched[i] != portable[i] {
            XCTFail("\(hex(bits(inputs[i]))): instruction \(hex(dispatched[i])), portable \(hex(portable[i]))")
            break
        }
        if !GemmBackend.roundsWithAVX512BF16 { print("note: no AVX-512 BF16 on this CPU; only the portable loop ran") }
    }

    /// For normal numbers the rounding equals the checkpoint writer's (`BFloat16.bits`, which also keeps subnormals).
    func testNormalNumbersMatchTheCheckpointWriter() {
        let values = FiniteDifference.randomFloats(4_096, seed: 3, scale: 1e4)
        var rounded = [UInt16](repeating: 0, count: values.count)
        Float.roundToBFloat16(values, into: &rounded, count: values.count)
        XCTAssertEqual(rounded, values.map(BFloat16.bits))
    }

    /// Double rounds to bf16 directly, not through a `Float` rounded to nearest: 1 + 2⁻⁸ + 2⁻³⁰
    /// is just above a bf16 tie, but its nearest `Float` is the tie itself (which would round down).
    func testDoubleHasNoDoubleRounding() {
        let x = 1 + 0x1p-8 + 0x1p-30
        XCTAssertEqual(Float(x), 1 + 0x1p-8, "the premise: the nearest Float is the tie")
        var out: UInt16 = 0
        Double.roundToBFloat16([x], into: &out, count: 1)
        XCTAssertEqual(out, 0x3F81)
        Double.roundToBFloat16([-x], into: &out, count: 1)
        XCTAssertEqual(out, 0xBF81)
        Double.roundToBFloat16([1 + 0x1p-8], into: &out, count: 1)
        XCTAssertEqual(out, 0x3F80, "an exact tie still rounds to even")
        Double.roundToBFloat16([1e300], into: &out, count: 1)
        XCTAssertEqual(out, 0x7F80, "beyond the Float range: infinity")
        Double.roundToBFloat16([-1e-300], into: &out, count: 1)
        XCTAssertEqual(out, 0x8000, "below the Float range: a zero of its sign")
    }

    /// `BFloat16Buffer.round` in parallel chunks (more workers than cores) equals one serial call.
    func testBufferRoundingInParallelEqualsSerial() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        let n = (1 << 17) + 13
        let values = FiniteDifference.randomFloats(n, seed: 9, scale: 3)
        var serial = [UInt16](repeating: 0, count: n)
        mixln_f32_to_bf16_portable(&serial, values, n)
        for threads in [1, 16] {
            Parallel.threadCount = threads
            let copy = BFloat16Buffer(count: n + 5)
            copy.round(values, count: n, at: 5)
            XCTAssertEqual(Array(UnsafeBufferPointer(start: copy.pointer + 5, count: n)), serial, "\(threads) threads")
            XCTAssertEqual(copy.widened(3, at: 5), values.prefix(3).map { BFloat16.float(BFloat16.bits($0)) })
        }
    }
}
