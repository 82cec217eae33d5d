import Foundation

/// Reductions and elementwise helpers on raw buffers, generic over the scalar; each forwards to
/// the scalar type's kernel (vectorized C for `Float`, plain loops for `Double`).
public enum VectorMath {
    /// Σ x[i]·y[i]
    @inlinable public static func dot<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int) -> T {
        T.dot(x, y, count: n)
    }
    /// Σ x[i]·y[i] accumulated in `Double` whatever `T` is.
    @inlinable public static func dotInDouble<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int) -> Double {
        T.dotInDouble(x, y, count: n)
    }
    /// Σ (a·x[i] − b·y[i])² accumulated in `Double`.
    @inlinable public static func scaledDifferenceSquaredInDouble<T: TensorScalar>(
        _ x: UnsafePointer<T>, _ a: Double, _ y: UnsafePointer<T>, _ b: Double, _ n: Int
    ) -> Double {
        T.scaledDifferenceSquaredInDouble(x, a, y, b, count: n)
    }
    /// Σ x[i]
    @inlinable public static func sum<T: TensorScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T { T.sum(x, count: n) }
    /// max x[i]  (−∞ for n = 0)
    @inlinable public static func max<T: TensorScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T { T.maximum(x, count: n) }
    /// x[i] *= a
    @inlinable public static func scale<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ a: T, _ n: Int) {
        T.scale(x, by: a, count: n)
    }
    /// y[i] += a·x[i]
    @inlinable public static func axpy<T: TensorScalar>(_ a: T, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
        T.axpy(a, x, y, count: n)
    }
    /// out[i] = a·x[i] + y[i]   (out may alias y)
    @inlinable public static func scaledAdd<T: TensorScalar>(_ out: UnsafeMutablePointer<T>, _ a: T, _ x: UnsafePointer<T>,
                                                             _ y: UnsafePointer<T>, _ n: Int) {
        T.scaledAdd(out, a, x, y, count: n)
    }
    /// out[i] = exp(x[i] − shift) (out is x or does not overlap it); returns Σ out[i] in `Double`. With `shift = max(x)`,
    /// `shift + log(result)` is log Σ exp(x) without the fp32 rounding of `softmax`'s return value.
    @inlinable public static func expShifted<T: TensorScalar>(_ x: UnsafePointer<T>, minus shift: T, into out: UnsafeMutablePointer<T>,
                                                               _ n: Int) -> Double {
        T.expShiftedSumInDouble(x, minus: shift, into: out, count: n)
    }
    /// KL(softmax(a) ‖ softmax(b)) = Σ p_i log(p_i / q_i) of two logit rows, in nats, given their maxima.
    ///
    /// With d = a − b − (aMax − bMax), KL = E_p[d] + log E_p[exp(−d)] = m + log1p(E_p[exp(−d) − 1 + d] − m),
    /// m = E_p[d]: the terms that cancel (E_p[d] against the log-sum-exps) are taken out exactly, so a KL
    /// of 1e-9 between nearly equal rows keeps its relative precision instead of drowning in the
    /// ~1e-8 absolute rounding of two log-sum-exps; and every exponential, p_i·exp(−d_i) =
    /// exp(b_i − bMax) included, is at most 1, so rows with nothing in common give a finite KL.
    @inlinable public static func softmaxDivergence<T: TensorScalar>(_ a: UnsafePointer<T>, _ b: UnsafePointer<T>, aMax: T, bMax: T,
                                                                      _ n: Int) -> Double {
        let sums = T.softmaxDivergenceSums(a, b, aMax: aMax, shift: aMax - bMax, count: n)
        let mean = sums.first / sums.total
        return mean + Foundation.log1p(sums.excess / sums.total - mean)
    }
    /// Softmax in place; returns log Σ exp of the original values.
    @inlinable public static func softmax<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ n: Int) -> T {
        T.softmaxInPlace(x, count: n)
    }
}
