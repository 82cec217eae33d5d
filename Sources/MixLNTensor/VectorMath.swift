/// Vectorized reductions and elementwise helpers on raw buffers, generic over the scalar.
///
/// Written with `SIMD16<T>` so that the `Float` specialization uses AVX registers; the `Double`
/// version (for gradient checks) runs the same code.
public enum VectorMath {
    @inline(__always) @usableFromInline
    static func load<T: TensorScalar>(_ p: UnsafePointer<T>) -> SIMD16<T> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<T>.self)
    }

    @inline(__always) @usableFromInline
    static func store<T: TensorScalar>(_ v: SIMD16<T>, _ p: UnsafeMutablePointer<T>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<T>.self)
    }

    /// Σ x[i]·y[i]
    @inlinable
    public static func dot<T: TensorScalar>(_ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int) -> T {
        var acc = SIMD16<T>(repeating: 0)
        var i = 0
        while i + 16 <= n {
            acc = acc.addingProduct(load(x + i), load(y + i))
            i += 16
        }
        var s = acc.sum()
        while i < n { s += x[i] * y[i]; i += 1 }
        return s
    }

    /// Σ x[i]
    @inlinable
    public static func sum<T: TensorScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T {
        var acc = SIMD16<T>(repeating: 0)
        var i = 0
        while i + 16 <= n { acc += load(x + i); i += 16 }
        var s = acc.sum()
        while i < n { s += x[i]; i += 1 }
        return s
    }

    /// max x[i]  (−∞ for n = 0)
    @inlinable
    public static func max<T: TensorScalar>(_ x: UnsafePointer<T>, _ n: Int) -> T {
        var acc = SIMD16<T>(repeating: -.infinity)
        var i = 0
        while i + 16 <= n { acc = pointwiseMax(acc, load(x + i)); i += 16 }
        var m = acc.max()
        while i < n { m = Swift.max(m, x[i]); i += 1 }
        return m
    }

    /// x[i] += a
    @inlinable
    public static func addScalar<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ a: T, _ n: Int) {
        let va = SIMD16<T>(repeating: a)
        var i = 0
        while i + 16 <= n { store(load(x + i) + va, x + i); i += 16 }
        while i < n { x[i] += a; i += 1 }
    }

    /// x[i] *= a
    @inlinable
    public static func scale<T: TensorScalar>(_ x: UnsafeMutablePointer<T>, _ a: T, _ n: Int) {
        let va = SIMD16<T>(repeating: a)
        var i = 0
        while i + 16 <= n { store(load(x + i) * va, x + i); i += 16 }
        while i < n { x[i] *= a; i += 1 }
    }

    /// y[i] += a·x[i]
    @inlinable
    public static func axpy<T: TensorScalar>(_ a: T, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
        let va = SIMD16<T>(repeating: a)
        var i = 0
        while i + 16 <= n { store(load(y + i).addingProduct(va, load(x + i)), y + i); i += 16 }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// out[i] = a·x[i] + y[i]   (out may alias y)
    @inlinable
    public static func scaledAdd<T: TensorScalar>(_ out: UnsafeMutablePointer<T>, _ a: T, _ x: UnsafePointer<T>, _ y: UnsafePointer<T>, _ n: Int) {
        let va = SIMD16<T>(repeating: a)
        var i = 0
        while i + 16 <= n { store(load(y + i).addingProduct(va, load(x + i)), out + i); i += 16 }
        while i < n { out[i] = a * x[i] + y[i]; i += 1 }
    }

    /// out[i] = exp(x[i] − shift), returns Σ out[i]. Used by softmax; `out` may alias `x`.
    @inlinable
    public static func expShifted<T: TensorScalar>(_ out: UnsafeMutablePointer<T>, _ x: UnsafePointer<T>, shift: T, _ n: Int) -> T {
        if UnsafePointer(out) != x { out.update(from: x, count: n) }
        addScalar(out, -shift, n)
        T.expInPlace(out, count: n)
        return sum(UnsafePointer(out), n)
    }
}
