import XCTest
import MixLNTensor

/// Central finite differences in `Double`, the oracle for every backward.
public enum FiniteDifference {
    /// ∂f/∂x[i] ≈ (f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h for every i in `indices` (all when nil).
    ///
    /// h = 1e-6 balances truncation error (O(h²) ≈ 1e-12 times the third derivative) against
    /// rounding (≈ 1e-16 / 1e-6 = 1e-10 relative), so agreement to ~1e-7 is expected in Double.
    public static func gradient(
        at x: [Double], indices: [Int]? = nil, step h: Double = 1e-6, _ f: ([Double]) -> Double
    ) -> [Double] {
        var probe = x
        return (indices ?? Array(0..<x.count)).map { i in
            probe[i] = x[i] + h
            let plus = f(probe)
            probe[i] = x[i] - h
            let minus = f(probe)
            probe[i] = x[i]
            return (plus - minus) / (2 * h)
        }
    }

    /// The same for a value held elsewhere (model parameters): `f` reads `x` through the pointer.
    public static func gradient(
        of f: () -> Double, at x: UnsafeMutablePointer<Double>, indices: [Int], step h: Double = 1e-6
    ) -> [Double] {
        indices.map { i in
            let saved = x[i]
            x[i] = saved + h
            let plus = f()
            x[i] = saved - h
            let minus = f()
            x[i] = saved
            return (plus - minus) / (2 * h)
        }
    }

    /// A deterministic pseudo-random vector in [−scale, scale), for inputs and upstream gradients.
    public static func randomVector(_ count: Int, seed: UInt64, scale: Double = 1) -> [Double] {
        var rng = RandomSource(seed: seed)
        return (0..<count).map { _ in (rng.nextUniform() * 2 - 1) * scale }
    }
}

/// Fails when any pair differs by more than `absolute + relative·max(|a|, |b|)`; names the first bad index.
public func assertClose(
    _ analytic: [Double], _ numeric: [Double], relative: Double = 1e-6, absolute: Double = 1e-9,
    _ label: String = "", file: StaticString = #filePath, line: UInt = #line
) {
    XCTAssertEqual(analytic.count, numeric.count, "\(label): length", file: file, line: line)
    var worst = 0.0, worstIndex = -1
    for i in 0..<min(analytic.count, numeric.count) {
        let diff = abs(analytic[i] - numeric[i])
        let allowed = absolute + relative * max(abs(analytic[i]), abs(numeric[i]))
        if diff > allowed, diff - allowed > worst { worst = diff - allowed; worstIndex = i }
    }
    if worstIndex >= 0 {
        XCTFail("\(label): index \(worstIndex): analytic \(analytic[worstIndex]) vs numeric \(numeric[worstIndex])",
                file: file, line: line)
    }
}
