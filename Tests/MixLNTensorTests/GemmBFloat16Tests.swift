import XCTest
import CMixLNGemm
import MixLNTensor
import MixLNTestSupport

/// The bf16 GEMM (oneDNN's kernel, the widened fallback that runs where oneDNN has none, and the
/// `Double` version) against a triple loop on the same bf16 values in `Double`, over the four
/// transpose cases, odd shapes, strided storage, and alpha/beta.
///
/// A product of two bf16 values is exact in fp32 (8 + 8 significant bits ≤ 24), so the only error
/// is the fp32 summation: per element at most (k + 2)·u·(|α|·Σₚ|aᵢₚ·bₚⱼ| + |β·cᵢⱼ|) with u = 2⁻²⁴,
/// whatever order the library sums in. Padding in A and B holds NaN bits (read by mistake, they
/// poison the result), padding in C a sentinel that must come back untouched.
final class GemmBFloat16Tests: XCTestCase {
    struct Case { var m: Int, n: Int, k: Int, alpha: Float, beta: Float }
    static let cases = [
        Case(m: 5, n: 7, k: 3, alpha: 1, beta: 0),
        Case(m: 4, n: 6, k: 9, alpha: -0.5, beta: 1),
        Case(m: 1, n: 33, k: 257, alpha: 2, beta: 0.25),
        Case(m: 33, n: 2, k: 5, alpha: 1, beta: -1),
        Case(m: 17, n: 19, k: 64, alpha: 0.125, beta: 1),
        Case(m: 64, n: 1, k: 31, alpha: 1, beta: 0),
    ]
    static let padding = 3
    static let nanBits: UInt16 = 0x7FC0
    static let sentinel: Float = 1e30

    /// A row-major (rows, cols) bf16 matrix stored with leading dimension cols + padding.
    struct Matrix {
        var rows: Int, cols: Int, ld: Int, bits: [UInt16]
        init(rows: Int, cols: Int, seed: UInt64) {
            self.rows = rows; self.cols = cols; ld = cols + GemmBFloat16Tests.padding
            let values = FiniteDifference.randomFloats(rows * cols, seed: seed, scale: 2)
            bits = Array(repeating: GemmBFloat16Tests.nanBits, count: rows * ld)
            for r in 0..<rows { for c in 0..<cols { bits[r * ld + c] = BFloat16.bits(values[r * cols + c]) } }
        }
        subscript(r: Int, c: Int) -> Double { Double(BFloat16.float(bits[r * ld + c])) }
    }

    typealias BF16Gemm = (_ ta: Bool, _ tb: Bool, _ c: Case, _ a: Matrix, _ b: Matrix, _ out: UnsafeMutablePointer<Float>, _ ldc: Int) -> Void

    static let implementations: [(String, BF16Gemm)] = [
        ("Float.gemmBFloat16 (\(GemmBackend.bf16))", { ta, tb, c, a, b, out, ldc in
            Float.gemmBFloat16(transposeA: ta, transposeB: tb, m: c.m, n: c.n, k: c.k, alpha: c.alpha, a: a.bits, lda: a.ld,
                               b: b.bits, ldb: b.ld, beta: c.beta, c: out, ldc: ldc, threading: .shared)
        }),
        ("widened fallback", { ta, tb, c, a, b, out, ldc in
            mixln_gemm_bf16_widened(ta ? 1 : 0, tb ? 1 : 0, c.m, c.n, c.k, c.alpha, a.bits, a.ld, b.bits, b.ld, c.beta, out, ldc,
                                    Int32(Parallel.threadCount))
        }),
        ("Double.gemmBFloat16", { ta, tb, c, a, b, out, ldc in
            var d = (0..<(c.m * ldc)).map { Double(out[$0]) }
            Double.gemmBFloat16(transposeA: ta, transposeB: tb, m: c.m, n: c.n, k: c.k, alpha: Double(c.alpha), a: a.bits, lda: a.ld,
                                b: b.bits, ldb: b.ld, beta: Double(c.beta), c: &d, ldc: ldc, threading: .shared)
            for i in 0..<d.count { out[i] = Float(d[i]) }
        }),
    ]

    func checkAll(file: StaticString = #filePath, line: UInt = #line) {
        let u = 0x1p-24
        for (name, gemm) in Self.implementations {
            for (index, c) in Self.cases.enumerated() {
                for ta in [false, true] {
                    for tb in [false, true] {
                        let label = "\(name), case \(index), transposeA \(ta), transposeB \(tb)"
                        let a = ta ? Matrix(rows: c.k, cols: c.m, seed: 1) : Matrix(rows: c.m, cols: c.k, seed: 1)
                        let b = tb ? Matrix(rows: c.n, cols: c.k, seed: 2) : Matrix(rows: c.k, cols: c.n, seed: 2)
                        let ldc = c.n + Self.padding
                        let c0 = FiniteDifference.randomFloats(c.m * ldc, seed: 3)
                        var out = c0
                        for i in 0..<c.m { for j in c.n..<ldc { out[i * ldc + j] = Self.sentinel } }
                        out.withUnsafeMutableBufferPointer { gemm(ta, tb, c, a, b, $0.baseAddress!, ldc) }
                        for i in 0..<c.m {
                            for j in 0..<c.n {
                                var exact = 0.0, magnitude = 0.0
                                for p in 0..<c.k {
                                    let product = (ta ? a[p, i] : a[i, p]) * (tb ? b[j, p] : b[p, j])
                                    exact += product
                                    magnitude += abs(product)
                                }
                                let old = Double(c0[i * ldc + j])
                                let expected = Double(c.alpha) * exact + Double(c.beta) * old
                                let bound = Double(c.k + 2) * u * (abs(Double(c.alpha)) * magnitude + abs(Double(c.beta) * old)) + 1e-30
                                XCTAssertEqual(Double(out[i * ldc + j]), expected, accuracy: bound, "\(label): C[\(i), \(j)]",
                                               file: file, line: line)
                            }
                            for j in c.n..<ldc where out[i * ldc + j] != Self.sentinel {
                                XCTFail("\(label): padding C[\(i), \(j)] written", file: file, line: line)
                            }
                        }
                    }
                }
            }
        }
    }

    func testAgainstTheExactProductsOfTheBFloat16Values() { checkAll() }

    /// The same with 16 OpenMP threads per call (oneDNN splits the work another way).
    func testWithSixteenThreads() {
        let saved = Parallel.threadCount
        defer { Parallel.threadCount = saved }
        Parallel.threadCount = 16
        checkAll()
    }

    /// Small integers are exact in bf16 and their sums exact in fp32: every implementation gives the
    /// exact result, and beta = 0 overwrites C even where it holds NaN.
    func testExactOnIntegersAndBetaZeroOverwritesNaN() {
        let m = 3, n = 5, k = 7
        let a = (0..<(m * k)).map { BFloat16.bits(Float($0 % 5) - 2) }, b = (0..<(k * n)).map { BFloat16.bits(Float($0 % 3) + 1) }
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { expected[i * n + j] += BFloat16.float(a[i * k + p]) * BFloat16.float(b[p * n + j]) } } }
        var native = [Float](repeating: .nan, count: m * n), widened = native
        Float.gemmBFloat16(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n,
                           beta: 0, c: &native, ldc: n, threading: .shared)
        mixln_gemm_bf16_widened(0, 0, m, n, k, 1, a, k, b, n, 0, &widened, n, 1)
        XCTAssertEqual(native, expected)
        XCTAssertEqual(widened, expected)
    }

    /// `GemmOperand` dispatch: two bf16 operands run the bf16 GEMM (the fp32 GEMM on the widened
    /// values gives the same exact integers); `advanced(by:)` addresses a column block.
    func testOperandDispatchAndColumnBlocks() {
        let m = 2, k = 4, n = 3, ld = 6
        let aValues: [Float] = (0..<(m * k)).map { Float($0) }, bValues: [Float] = (0..<(k * ld)).map { Float($0 % 7) - 3 }
        let aBits = aValues.map(BFloat16.bits), bBits = bValues.map(BFloat16.bits)
        var viaBits = [Float](repeating: 0, count: m * n), viaValues = viaBits
        aBits.withUnsafeBufferPointer { ab in
            bBits.withUnsafeBufferPointer { bb in
                Float.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: .bfloat16(ab.baseAddress!), lda: k,
                           b: GemmOperand<Float>.bfloat16(bb.baseAddress!).advanced(by: 2), ldb: ld, beta: 0, c: &viaBits, ldc: n)
            }
        }
        aValues.withUnsafeBufferPointer { av in
            bValues.withUnsafeBufferPointer { bv in
                Float.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: .values(av.baseAddress!), lda: k,
                           b: GemmOperand<Float>.values(bv.baseAddress!).advanced(by: 2), ldb: ld, beta: 0, c: &viaValues, ldc: n)
            }
        }
        XCTAssertEqual(viaBits, viaValues)
    }

    /// The fp32 GEMM the engine calls (oneDNN's sgemm on Linux) and the portable BLAS one agree to
    /// fp32 rounding (both are checked against exact sums in `GemmTests`; this pins the BLAS path,
    /// which only runs here and on platforms without oneDNN).
    func testFP32GemmMatchesBLAS() {
        for c in Self.cases {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = FiniteDifference.randomFloats(c.m * c.k, seed: 4), b = FiniteDifference.randomFloats(c.k * c.n, seed: 5)
                    let c0 = FiniteDifference.randomFloats(c.m * c.n, seed: 6)
                    var engine = c0, blas = c0
                    mixln_gemm_f32(ta ? 1 : 0, tb ? 1 : 0, c.m, c.n, c.k, c.alpha, a, ta ? c.m : c.k, b, tb ? c.k : c.n, c.beta, &engine, c.n, 2)
                    mixln_gemm_f32_blas(ta ? 1 : 0, tb ? 1 : 0, c.m, c.n, c.k, c.alpha, a, ta ? c.m : c.k, b, tb ? c.k : c.n, c.beta, &blas, c.n)
                    for i in 0..<engine.count {
                        XCTAssertEqual(engine[i], blas[i], accuracy: Float(c.k + 2) * 0x1p-23 * (Float(c.k) * 4 * abs(c.alpha) + abs(c.beta) * 2),
                                       "m \(c.m) n \(c.n) k \(c.k) transposes \(ta) \(tb): element \(i)")
                    }
                }
            }
        }
    }
}
