/// Vectorized `exp` for `Float`, accurate to about 2 ulp over the range softmax needs.
///
/// Range reduction `x = n·ln2 + r` with |r| ≤ ln2/2, a degree-6 polynomial for `exp(r)`, and the
/// exponent bits set directly for `2^n`. Inputs below −87.3 give 0 (softmax's masked entries);
/// inputs above 88.7 saturate to +inf.
public enum FastExp {
    public static func expInPlace(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float>.self)
            UnsafeMutableRawPointer(x + i).storeBytes(of: exp16(v), as: SIMD16<Float>.self)
            i += 16
        }
        if i < count {
            var tail = SIMD16<Float>(repeating: 0)
            for j in 0..<(count - i) { tail[j] = x[i + j] }
            let r = exp16(tail)
            for j in 0..<(count - i) { x[i + j] = r[j] }
        }
    }

    @inline(__always)
    public static func exp16(_ input: SIMD16<Float>) -> SIMD16<Float> {
        let log2e = SIMD16<Float>(repeating: 1.442_695_04)
        let ln2hi = SIMD16<Float>(repeating: 0.693_359_375)
        let ln2lo = SIMD16<Float>(repeating: -2.121_944_4e-4)
        let x = input.clamped(lowerBound: SIMD16(repeating: -87.3), upperBound: SIMD16(repeating: 88.7))
        let n = (x * log2e).rounded(.toNearestOrEven)
        var r = x - n * ln2hi
        r = r - n * ln2lo
        // exp(r) ≈ 1 + r + r²/2! + … + r⁶/6!  (Horner)
        var p = SIMD16<Float>(repeating: 1.0 / 720)
        p = SIMD16<Float>(repeating: 1.0 / 120).addingProduct(p, r)
        p = SIMD16<Float>(repeating: 1.0 / 24).addingProduct(p, r)
        p = SIMD16<Float>(repeating: 1.0 / 6).addingProduct(p, r)
        p = SIMD16<Float>(repeating: 0.5).addingProduct(p, r)
        p = SIMD16<Float>(repeating: 1).addingProduct(p, r)
        p = SIMD16<Float>(repeating: 1).addingProduct(p, r)
        let bits = (SIMD16<Int32>(n) &+ 127) &<< 23
        let scale = unsafeBitCast(bits, to: SIMD16<Float>.self)
        var result = p * scale
        result.replace(with: 0, where: input .< -87.3)
        result.replace(with: Float.infinity, where: input .> 88.7)
        return result
    }
}
