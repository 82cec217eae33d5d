import XCTest
import MixLNTensor
import MixLNTestSupport

/// `gemm` (oneDNN for Float on Linux, BLAS otherwise) for Float and Double against a naive triple loop in Double, over all four
/// transpose combinations, with leading dimensions wider than the matrices (strided views).
///
/// Each matrix lives in a wider storage whose padding columns hold a sentinel: padding in A or B
/// that BLAS wrongly reads turns the result into nonsense, and padding in C must come back untouched.
/// Tolerance per element: (k + 2)·u·(|α|·Σₚ|aᵢₚ·bₚⱼ| + |β·cᵢⱼ|), the worst-case bound of a length-k
/// dot product plus the scaling and the add; u is the scalar's unit roundoff.
final class GemmTests: XCTestCase {
    struct Case { var m: Int, n: Int, k: Int, alpha: Double, beta: Double }
    static let cases = [
        Case(m: 5, n: 7, k: 3, alpha: 1, beta: 0),
        Case(m: 4, n: 6, k: 9, alpha: -0.5, beta: 1),   // beta = 1 accumulates into C
        Case(m: 1, n: 3, k: 17, alpha: 2, beta: 0.25),
        Case(m: 33, n: 2, k: 5, alpha: 1, beta: -1),
    ]
    static let padding = 3
    static let sentinel = 1e30

    /// Row-major (rows, cols) matrix in storage of leading dimension cols + padding.
    struct Strided {
        var rows: Int, cols: Int, ld: Int, storage: [Double]
        init(rows: Int, cols: Int, seed: UInt64) {
            self.rows = rows; self.cols = cols; ld = cols + GemmTests.padding
            let values = FiniteDifference.randomVector(rows * cols, seed: seed)
            storage = Array(repeating: GemmTests.sentinel, count: rows * ld)
            for r in 0..<rows { for c in 0..<cols { storage[r * ld + c] = values[r * cols + c] } }
        }
        subscript(r: Int, c: Int) -> Double { storage[r * ld + c] }
    }

    func check<T: TensorScalar>(_: T.Type, threading: GemmThreading = .shared, file: StaticString = #filePath, line: UInt = #line) {
        let u = Double(T.ulpOfOne) / 2
        for (index, c) in Self.cases.enumerated() {
            for transposeA in [false, true] {
                for transposeB in [false, true] {
                    let label = "\(T.self) \(threading) case \(index) transposeA \(transposeA) transposeB \(transposeB)"
                    // Stored shapes: A is (m, k) or, transposed, (k, m); B is (k, n) or (n, k).
                    let a = transposeA ? Strided(rows: c.k, cols: c.m, seed: 1) : Strided(rows: c.m, cols: c.k, seed: 1)
                    let b = transposeB ? Strided(rows: c.n, cols: c.k, seed: 2) : Strided(rows: c.k, cols: c.n, seed: 2)
                    let c0 = Strided(rows: c.m, cols: c.n, seed: 3)
                    // The sentinel in C's padding is fine to send: BLAS must not touch it.
                    let aT = scratch(a.storage.map { T($0) }), bT = scratch(b.storage.map { T($0) })
                    let cT = scratch(c0.storage.map { T($0) })
                    T.gemm(transposeA: transposeA, transposeB: transposeB, m: c.m, n: c.n, k: c.k,
                           alpha: T(c.alpha), a: aT, lda: a.ld, b: bT, ldb: b.ld, beta: T(c.beta), c: cT, ldc: c0.ld,
                           threading: threading)
                    let got = read(cT, c0.storage.count).map { Double($0) }

                    // The reference works on the values as rounded to T, so only gemm's own rounding is measured.
                    func rounded(_ x: Double) -> Double { Double(T(x)) }
                    for i in 0..<c.m {
                        for j in 0..<c.n {
                            var exact = 0.0, magnitude = 0.0
                            for p in 0..<c.k {
                                let aip = rounded(transposeA ? a[p, i] : a[i, p])
                                let bpj = rounded(transposeB ? b[j, p] : b[p, j])
                                exact += aip * bpj
                                magnitude += abs(aip * bpj)
                            }
                            let cij = rounded(c0[i, j])
                            let expected = c.alpha * exact + c.beta * cij
                            let bound = Double(c.k + 2) * u * (abs(c.alpha) * magnitude + abs(c.beta * cij)) + 1e-300
                            XCTAssertEqual(got[i * c0.ld + j], expected, accuracy: bound, "\(label) C[\(i), \(j)]",
                                           file: file, line: line)
                        }
                        for j in c.n..<c0.ld {
                            XCTAssertEqual(got[i * c0.ld + j], Double(T(Self.sentinel)), "\(label): padding C[\(i), \(j)] written",
                                           file: file, line: line)
                        }
                    }
                }
            }
        }
    }

    func testFloatAllTransposesWithStrides() { check(Float.self) }
    func testDoubleAllTransposesWithStrides() { check(Double.self) }
    /// On the calling thread alone: oneDNN with one OpenMP thread for Float, a plain loop for Double.
    func testCallingThreadAllTransposesWithStrides() {
        check(Float.self, threading: .callingThread)
        check(Double.self, threading: .callingThread)
    }

    /// Products run side by side by `Parallel` workers, each on its own thread, give what each gives alone.
    func testCallingThreadProductsSideBySide() {
        let m = 48, n = 40, k = 72, count = 16
        let a = FiniteDifference.randomVector(count * m * k, seed: 4).map { Float($0) }
        let b = FiniteDifference.randomVector(k * n, seed: 5).map { Float($0) }
        func products(workers: Int) -> [Float] {
            var c = [Float](repeating: .nan, count: count * m * n)
            a.withUnsafeBufferPointer { a in
                b.withUnsafeBufferPointer { b in
                    c.withUnsafeMutableBufferPointer { c in
                        let (a, b, c) = (a.baseAddress!, b.baseAddress!, c.baseAddress!)
                        Parallel.forEachWorker(count, workers: workers) { _, range in
                            for i in range {
                                Float.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a + i * m * k, lda: k,
                                           b: b, ldb: n, beta: 0, c: c + i * m * n, ldc: n, threading: .callingThread)
                            }
                        }
                    }
                }
            }
            return c
        }
        let alone = products(workers: 1)
        for workers in [2, 16] { XCTAssertEqual(products(workers: workers), alone, "\(workers) workers") }
    }

    /// beta = 0 overwrites C, whatever it held, as every caller that does not accumulate assumes.
    func testBetaZeroIgnoresOldContents() {
        let a = scratch([Float](repeating: 1, count: 4)), b = scratch([Float](repeating: 2, count: 4))
        let c = scratch([Float](repeating: 1e30, count: 4))
        Float.gemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 2, alpha: 1, a: a, lda: 2, b: b, ldb: 2,
                   beta: 0, c: c, ldc: 2)
        XCTAssertEqual(read(c, 4), [4, 4, 4, 4])
    }

    /// beta = 1 twice in a row adds the product twice (the accumulation the backward relies on).
    func testBetaOneAccumulates() {
        let a = scratch([Double]([1, 2, 3, 4])), b = scratch([Double]([5, 6, 7, 8])), c = scratch([Double]([1, 1, 1, 1]))
        for _ in 0..<2 {
            Double.gemm(transposeA: false, transposeB: false, m: 2, n: 2, k: 2, alpha: 1, a: a, lda: 2, b: b, ldb: 2,
                        beta: 1, c: c, ldc: 2)
        }
        // [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]
        let expected: [Double] = [19, 22, 43, 50].map { 1 + 2 * $0 }
        XCTAssertEqual(read(c, 4), expected)
    }
}
