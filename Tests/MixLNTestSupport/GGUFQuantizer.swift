import Foundation
import MixLNGGUF
import MixLNTensor

/// Encodes fp32 values as a GGUF tensor's bytes, for tests that write models as GGUF.
///
/// The 32-value types follow ggml's reference quantizers (`quantize_row_q8_0_ref`, `…q4_0_ref`,
/// `…q4_1_ref`, `…q5_0_ref`, `…q5_1_ref`). The K-quants use a plain fit of their own — scale and
/// minimum per sub-block from its range, rounded quants — not ggml's iterative search: any valid
/// encoding serves, since the tests compare against the values it dequantizes to.
public enum GGUFQuantizer {
    /// `values` (whole blocks of `type`) as stored bytes.
    public static func encode(_ values: [Float], as type: GGMLType) -> Data {
        precondition(values.count % type.blockSize == 0)
        switch type {  // one value per "block": stored as is, in bulk
        case .f32: return Data(values.flatMap { le($0.bitPattern) })
        case .f16: return Data(values.flatMap { le(HalfFloat.bits($0)) })
        case .bf16: return Data(values.flatMap { le(BFloat16.bits($0)) })
        default: break
        }
        var out = Data()
        for start in stride(from: 0, to: values.count, by: type.blockSize) {
            let x = Array(values[start..<(start + type.blockSize)])
            out.append(contentsOf: block(x, type))
        }
        return out
    }

    private static func half(_ v: Float) -> [UInt8] { le(HalfFloat.bits(v)) }
    private static func le<I: FixedWidthInteger>(_ v: I) -> [UInt8] { withUnsafeBytes(of: v.littleEndian, Array.init) }
    /// The value an fp16 field will hold.
    private static func rounded(_ v: Float) -> Float { HalfFloat.float(HalfFloat.bits(v)) }

    private static func block(_ x: [Float], _ type: GGMLType) -> [UInt8] {
        switch type {
        case .f32: return le(x[0].bitPattern)
        case .f16: return half(x[0])
        case .bf16: return le(BFloat16.bits(x[0]))
        case .q8_0:
            let d = x.map(abs).max()! / 127, id = d != 0 ? 1 / d : 0
            return half(d) + x.map { UInt8(bitPattern: Int8(($0 * id).rounded(.toNearestOrAwayFromZero))) }
        case .q4_0, .q5_0:
            let levels: Float = type == .q4_0 ? 8 : 16, top = Int(2 * levels - 1)
            let extreme = x.max { abs($0) < abs($1) }!
            let d = extreme / -levels, id = d != 0 ? 1 / d : 0
            let q = x.map { min(top, Int(Int8(truncatingIfNeeded: Int(($0 * id + levels + 0.5).rounded(.towardZero))))) }
            return half(d) + pack32(q, fifthBit: type == .q5_0)
        case .q4_1, .q5_1:
            let top: Float = type == .q4_1 ? 15 : 31
            let low = x.min()!, high = x.max()!
            let d = (high - low) / top, id = d != 0 ? 1 / d : 0
            let q = x.map { min(Int(top), Int((($0 - low) * id + 0.5).rounded(.towardZero))) }
            return half(d) + half(low) + pack32(q, fifthBit: type == .q5_1)
        case .q8_K:
            let d = x.map(abs).max()! / 127, id = d != 0 ? 1 / d : 0
            let q = x.map { Int8(($0 * id).rounded()) }
            let sums = (0..<16).map { g in Int16(q[(16 * g)..<(16 * g + 16)].reduce(0) { $0 + Int($1) }) }
            return le(d.bitPattern) + q.map { UInt8(bitPattern: $0) } + sums.flatMap(le)
        case .q6_K: return q6_K(x)
        case .q4_K, .q5_K: return q45_K(x, fiveBits: type == .q5_K)
        case .q2_K: return q2_K(x)
        case .q3_K: return q3_K(x)
        }
    }

    /// 32 quants as Q4/Q5 store them: value j < 16 in byte j's low nibble, j + 16 in its high one;
    /// with `fifthBit`, a 32-bit mask of the fifth bits (bit j for value j) in front.
    private static func pack32(_ q: [Int], fifthBit: Bool) -> [UInt8] {
        let nibbles = (0..<16).map { UInt8(q[$0] & 0xF) | UInt8(q[$0 + 16] & 0xF) << 4 }
        guard fifthBit else { return nibbles }
        let high = (0..<32).reduce(UInt32(0)) { $0 | UInt32((q[$1] >> 4) & 1) << UInt32($1) }
        return le(high) + nibbles
    }

    /// Per sub-block (size n): scale quantized to `scaleLevels` steps of d, quants in 0…top around a minimum.
    private static func fit(_ x: [Float], subBlock n: Int, top: Float, scaleLevels: Float)
        -> (d: Float, dmin: Float, scales: [Int], mins: [Int], q: [Int]) {
        let groups = stride(from: 0, to: x.count, by: n).map { Array(x[$0..<($0 + n)]) }
        let steps = groups.map { ($0.max()! - min(0, $0.min()!)) / top }
        let lows = groups.map { -min(0, $0.min()!) }
        let d = rounded(steps.max()! / scaleLevels), dmin = rounded(lows.max()! / scaleLevels)
        let scales = steps.map { d > 0 ? Int(($0 / d).rounded()) : 0 }, mins = lows.map { dmin > 0 ? Int(($0 / dmin).rounded()) : 0 }
        var q: [Int] = []
        for (g, group) in groups.enumerated() {
            let step = d * Float(scales[g]), low = dmin * Float(mins[g])
            q += group.map { step > 0 ? max(0, min(Int(top), Int((($0 + low) / step).rounded()))) : 0 }
        }
        return (d, dmin, scales, mins, q)
    }

    private static func q45_K(_ x: [Float], fiveBits: Bool) -> [UInt8] {
        let f = fit(x, subBlock: 32, top: fiveBits ? 31 : 15, scaleLevels: 63)
        var packed = [UInt8](repeating: 0, count: 12)  // 6-bit scale and min of sub-blocks 0…7
        for j in 0..<8 {
            let s = UInt8(f.scales[j]), m = UInt8(f.mins[j])
            if j < 4 {
                packed[j] |= s & 63
                packed[j + 4] |= m & 63
            } else {
                packed[j + 4] |= (s & 0xF) | (m & 0xF) << 4
                packed[j - 4] |= (s >> 4) << 6
                packed[j] |= (m >> 4) << 6
            }
        }
        var low = [UInt8](repeating: 0, count: 128), high = [UInt8](repeating: 0, count: 32)
        for n in 0..<4 {
            for l in 0..<32 {
                let a = f.q[64 * n + l], b = f.q[64 * n + 32 + l]
                low[32 * n + l] = UInt8(a & 0xF) | UInt8(b & 0xF) << 4
                high[l] |= UInt8((a >> 4) & 1) << UInt8(2 * n) | UInt8((b >> 4) & 1) << UInt8(2 * n + 1)
            }
        }
        return half(f.d) + half(f.dmin) + packed + (fiveBits ? high : []) + low
    }

    private static func q6_K(_ x: [Float]) -> [UInt8] {
        let groups = stride(from: 0, to: 256, by: 16).map { Array(x[$0..<($0 + 16)]) }
        let steps = groups.map { $0.map(abs).max()! / 31 }
        let d = rounded(steps.max()! / 127)
        let scales = steps.map { d > 0 ? Int8(($0 / d).rounded()) : 0 }
        let q = (0..<256).map { i -> Int in
            let step = d * Float(scales[i / 16])
            return step > 0 ? max(0, min(63, Int((x[i] / step).rounded()) + 32)) : 32
        }
        var ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        for n in 0..<2 {
            for l in 0..<32 {
                let base = 128 * n + l
                let (q1, q2, q3, q4) = (q[base], q[base + 32], q[base + 64], q[base + 96])
                ql[64 * n + l] = UInt8(q1 & 0xF) | UInt8(q3 & 0xF) << 4
                ql[64 * n + l + 32] = UInt8(q2 & 0xF) | UInt8(q4 & 0xF) << 4
                qh[32 * n + l] = UInt8(q1 >> 4) | UInt8(q2 >> 4) << 2 | UInt8(q3 >> 4) << 4 | UInt8(q4 >> 4) << 6
            }
        }
        return ql + qh + scales.map { UInt8(bitPattern: $0) } + half(d)
    }

    /// Element e of a 256-value block sits in quant byte 32·(e / 128) + e % 32 at bit plane (e % 128) / 32.
    private static func twoBitPlanes(_ q: [Int]) -> [UInt8] {
        var qs = [UInt8](repeating: 0, count: 64)
        for e in 0..<256 { qs[32 * (e / 128) + e % 32] |= UInt8(q[e] & 3) << UInt8(2 * ((e % 128) / 32)) }
        return qs
    }

    private static func q2_K(_ x: [Float]) -> [UInt8] {
        let f = fit(x, subBlock: 16, top: 3, scaleLevels: 15)
        let scales = (0..<16).map { UInt8(f.scales[$0] & 0xF) | UInt8(f.mins[$0] & 0xF) << 4 }
        return scales + twoBitPlanes(f.q) + half(f.d) + half(f.dmin)
    }

    private static func q3_K(_ x: [Float]) -> [UInt8] {
        let groups = stride(from: 0, to: 256, by: 16).map { Array(x[$0..<($0 + 16)]) }
        let steps = groups.map { $0.map(abs).max()! / 4 }
        let d = rounded(steps.max()! / 31)
        let scales = steps.map { d > 0 ? Int(($0 / d).rounded()) : 0 }  // 0…31, stored + 32
        let q = (0..<256).map { i -> Int in  // stored 0…7 for −4…3
            let step = d * Float(scales[i / 16])
            return step > 0 ? max(0, min(7, Int((x[i] / step).rounded()) + 4)) : 4
        }
        var hmask = [UInt8](repeating: 0, count: 32)
        for e in 0..<256 where q[e] >> 2 == 1 { hmask[e % 32] |= UInt8(1) << UInt8(e / 32) }
        var packed = [UInt8](repeating: 0, count: 12)
        for i in 0..<16 {
            let s = UInt8(scales[i] + 32)
            if i < 8 { packed[i] |= s & 0xF } else { packed[i - 8] |= (s & 0xF) << 4 }
            packed[8 + i % 4] |= (s >> 4) << UInt8(2 * (i / 4))
        }
        return hmask + twoBitPlanes(q.map { $0 & 3 }) + packed + half(d)
    }
}
