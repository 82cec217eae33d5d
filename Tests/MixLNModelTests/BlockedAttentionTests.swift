import XCTest
import MixLNTensor
import MixLNTestSupport
@testable import MixLNModel

/// The blocked `CausalAttention` against the full-matrix computation it replaced, written out below
/// as plain loops over whole T×T matrices (the masked entries computed and then dropped): sequence
/// lengths that are not multiples of the block (1, 63, 65, 130 with blocks of 64), grouped-query
/// attention, fp32 and bf16 operands, and any number of workers.
///
/// Every output buffer and bf16 copy starts as NaN, so an entry left unwritten, or a read of one,
/// shows as a mismatch.
final class BlockedAttentionTests: XCTestCase {
    /// One problem: B batch, T tokens, H query heads, G key/value heads, D head size; inputs in Double.
    struct Case: CustomStringConvertible {
        var B = 2
        var T: Int
        var H = 4
        var G: Int
        var D = 8
        var C: Int { H * D }
        var W: Int { (H + 2 * G) * D }
        var qkv: [Double] { FiniteDifference.randomVector(B * T * W, seed: UInt64(31 + T + G), scale: 2) }  // (B, T, W)
        var dOut: [Double] { FiniteDifference.randomVector(B * T * C, seed: UInt64(57 + T + G)) }          // (B, T, C)
        var description: String { "B \(B) T \(T) H \(H) G \(G) D \(D)" }
    }

    /// What one forward and backward give, as Double.
    struct Result {
        var out: [Double]        // (B, T, C)
        var logSumExp: [Double]  // (B, H, T)
        var dqkv: [Double]       // (B, T, W)
    }

    static let lengths = [1, 63, 65, 130]
    static let headGroupings = [4, 2, 1]  // G for H = 4: multi-head, two and one key/value heads

    private var savedThreadCount = 1
    override func setUp() { savedThreadCount = Parallel.threadCount }
    override func tearDown() { Parallel.threadCount = savedThreadCount }

    // MARK: - The full-matrix reference

    /// Causal attention on whole T×T score matrices in Double. With `bf16`, every GEMM operand is
    /// rounded to bfloat16 as the engine rounds it (qkv, the probabilities, dOut, the score gradient),
    /// while the softmax and its backward read the unrounded probabilities.
    static func reference(_ c: Case, bf16: Bool) -> Result {
        func operand(_ x: [Double]) -> [Double] {
            guard bf16 else { return x }
            var y = x
            Double.roundInPlaceToBFloat16(&y, count: y.count)
            return y
        }
        let qkv = operand(c.qkv), dOut = operand(c.dOut)
        let (T, D, C, K, W) = (c.T, c.D, c.C, c.G * c.D, c.W)
        let scale = 1 / Double(D).squareRoot()
        var result = Result(out: Array(repeating: 0, count: c.B * T * C), logSumExp: Array(repeating: 0, count: c.B * c.H * T),
                            dqkv: Array(repeating: 0, count: c.B * T * W))
        for b in 0..<c.B {
            for h in 0..<c.H {
                let kv = h / (c.H / c.G)
                func q(_ t: Int, _ d: Int) -> Double { qkv[(b * T + t) * W + h * D + d] }
                func k(_ s: Int, _ d: Int) -> Double { qkv[(b * T + s) * W + C + kv * D + d] }
                func v(_ s: Int, _ d: Int) -> Double { qkv[(b * T + s) * W + C + K + kv * D + d] }
                func dO(_ t: Int, _ d: Int) -> Double { dOut[(b * T + t) * C + h * D + d] }
                // Scores for every (t, s), then the softmax of row t over s ≤ t.
                var p = [[Double]](repeating: [Double](repeating: 0, count: T), count: T)
                for t in 0..<T {
                    let scores = (0..<T).map { s in scale * (0..<D).reduce(0) { $0 + q(t, $1) * k(s, $1) } }
                    let top = scores[0...t].max()!
                    let total = scores[0...t].reduce(0) { $0 + exp($1 - top) }
                    for s in 0...t { p[t][s] = exp(scores[s] - top) / total }
                    result.logSumExp[(b * c.H + h) * T + t] = top + log(total)
                }
                let pOperand = p.map(operand)
                var dS = p
                for t in 0..<T {
                    for d in 0..<D { result.out[(b * T + t) * C + h * D + d] = (0..<T).reduce(0) { $0 + pOperand[t][$1] * v($1, d) } }
                    let dP = (0..<T).map { s in (0..<D).reduce(0) { $0 + dO(t, $1) * v(s, $1) } }
                    let inner = (0..<T).reduce(0) { $0 + p[t][$1] * dP[$1] }
                    for s in 0..<T { dS[t][s] = p[t][s] * (dP[s] - inner) }
                }
                let dSOperand = dS.map(operand)
                for t in 0..<T {
                    for d in 0..<D {
                        let row = (b * T + t) * W
                        result.dqkv[row + h * D + d] = scale * (0..<T).reduce(0) { $0 + dSOperand[t][$1] * k($1, d) }
                        result.dqkv[row + C + kv * D + d] += scale * (0..<T).reduce(0) { $0 + dSOperand[$1][t] * q($1, d) }
                        result.dqkv[row + C + K + kv * D + d] += (0..<T).reduce(0) { $0 + pOperand[$1][t] * dO($1, d) }
                    }
                }
            }
        }
        return result
    }

    // MARK: - The engine's attention

    /// `CausalAttention.forward` then `backward` in `S` on `c`'s inputs, every output and bf16 copy
    /// starting as NaN.
    static func blocked<S: TensorScalar>(_ c: Case, _: S.Type, bf16: Bool) -> Result {
        func nanBuffer(_ count: Int) -> Buffer<S> {
            let buffer = Buffer<S>(count: count)
            buffer.pointer.update(repeating: .nan, count: count)
            return buffer
        }
        func nanCopy(_ count: Int) -> BFloat16Buffer? {
            guard bf16 else { return nil }
            let copy = BFloat16Buffer(count: count)
            copy.pointer.update(repeating: 0x7FC0, count: count)
            return copy
        }
        let qkv = Buffer<S>(c.qkv.map { S($0) }), dOut = Buffer<S>(c.dOut.map { S($0) })
        let out = nanBuffer(c.B * c.T * c.C), logSumExp = nanBuffer(c.B * c.H * c.T), dqkv = nanBuffer(qkv.count)
        let qkvCopy = nanCopy(qkv.count), dOutCopy = nanCopy(dOut.count)
        withExtendedLifetime((qkvCopy, dOutCopy)) {  // the operands point into the copies
            let qkvOperand = GemmOperand(qkv.pointer, count: qkv.count, roundingInto: qkvCopy)
            CausalAttention.forward(out: out.pointer, logSumExp: logSumExp.pointer, qkv: qkvOperand,
                                    batch: c.B, seqLen: c.T, heads: c.H, kvHeads: c.G, headDim: c.D)
            CausalAttention.backward(dqkv: dqkv.pointer, dOut: GemmOperand(dOut.pointer, count: dOut.count, roundingInto: dOutCopy),
                                     qkv: qkvOperand, logSumExp: logSumExp.pointer,
                                     batch: c.B, seqLen: c.T, heads: c.H, kvHeads: c.G, headDim: c.D)
        }
        func double(_ x: Buffer<S>) -> [Double] { x.array.map { Double($0) } }
        return Result(out: double(out), logSumExp: double(logSumExp), dqkv: double(dqkv))
    }

    func assertMatches(_ got: Result, _ expected: Result, _ c: Case, relative: Double, absolute: Double, _ label: String,
                       file: StaticString = #filePath, line: UInt = #line) {
        assertClose(got.out, expected.out, relative: relative, absolute: absolute, "\(label) \(c) out", file: file, line: line)
        assertClose(got.logSumExp, expected.logSumExp, relative: relative, absolute: absolute, "\(label) \(c) logSumExp", file: file, line: line)
        assertClose(got.dqkv, expected.dqkv, relative: relative, absolute: absolute, "\(label) \(c) dqkv", file: file, line: line)
    }

    // MARK: - Tests

    /// The products cover the blocks on and below the diagonal: at T = 256 in blocks of 64, 1.25×
    /// the T(T+1)/2 entries causal attention needs, where whole rows would be 2×.
    func testTheProductsSkipTheBlocksAboveTheDiagonal() {
        let blocks = AttentionBlocks(seqLen: 256, size: 64)
        XCTAssertEqual(blocks.count, 4)
        XCTAssertEqual(blocks.computedEntries, 64 * (64 + 128 + 192 + 256))
        XCTAssertEqual(AttentionBlocks(seqLen: 130, size: 64).rows(2), 128..<130)
        XCTAssertEqual(AttentionBlocks(seqLen: 1, size: 64).computedEntries, 1)
    }

    /// In Double the only differences are summation order (the products of bf16 values are exact),
    /// so the blocked attention agrees with the full matrices to rounding, bf16 operands included: a
    /// probability would have to lie within 1e-16 of a bf16 rounding boundary to round differently.
    func testMatchesTheFullMatrixComputationInDouble() {
        for T in Self.lengths {
            for G in Self.headGroupings {
                let c = Case(T: T, G: G)
                for bf16 in [false, true] {
                    assertMatches(Self.blocked(c, Double.self, bf16: bf16), Self.reference(c, bf16: bf16), c,
                                  relative: 1e-11, absolute: 1e-13, bf16 ? "bf16" : "fp32")
                }
            }
        }
    }

    /// In Float through oneDNN (or BLAS): fp32 to a few ulps of sums of up to 130 terms; bf16 looser,
    /// because an fp32 probability a rounding error away from a bf16 boundary rounds the other way than
    /// the Double reference's (a 2⁻⁸ relative change of that one term; it happens a few times in 10⁵).
    func testMatchesTheFullMatrixComputationInFloat() {
        for T in [63, 130] {
            for G in [4, 2] {
                let c = Case(T: T, G: G)
                assertMatches(Self.blocked(c, Float.self, bf16: false), Self.reference(c, bf16: false), c,
                              relative: 1e-4, absolute: 1e-5, "Float fp32")
                assertMatches(Self.blocked(c, Float.self, bf16: true), Self.reference(c, bf16: true), c,
                              relative: 1e-2, absolute: 2e-3, "Float bf16")
            }
        }
    }

    /// Every work item computes the same products whatever the number of workers, so the results
    /// are bitwise equal for 1, 2, 16 and 64 threads.
    func testBitwiseTheSameForAnyThreadCount() {
        func same(_ a: [Double], _ b: [Double]) -> Bool { a.elementsEqual(b) }
        for c in [Case(T: 130, G: 2), Case(B: 1, T: 65, H: 2, G: 1)] {
            for bf16 in [false, true] {
                Parallel.threadCount = 1
                let single = (float: Self.blocked(c, Float.self, bf16: bf16), double: Self.blocked(c, Double.self, bf16: bf16))
                for threads in [2, 16, 64] {
                    Parallel.threadCount = threads
                    for (got, expected, type) in [(Self.blocked(c, Float.self, bf16: bf16), single.float, "Float"),
                                                  (Self.blocked(c, Double.self, bf16: bf16), single.double, "Double")] {
                        let label = "\(type) \(bf16 ? "bf16" : "fp32") \(c), \(threads) threads"
                        XCTAssertTrue(same(got.out, expected.out), "\(label): out")
                        XCTAssertTrue(same(got.logSumExp, expected.logSumExp), "\(label): logSumExp")
                        XCTAssertTrue(same(got.dqkv, expected.dqkv), "\(label): dqkv")
                    }
                }
            }
        }
    }
}
