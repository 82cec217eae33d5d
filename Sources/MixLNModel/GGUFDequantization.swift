import MixLNGGUF
import MixLNTensor

/// GGUF tensor data to fp32, value for value as ggml's reference `dequantize_row_*` computes it
/// (ggml-quants.c): the same products in the same order, in `Float`, so the weights equal what
/// llama.cpp's CPU path dequantizes.
///
/// Block layouts (values per block, bytes): Q4_0 (32, 18): fp16 d, 16 bytes of nibbles, x = (q − 8)·d;
/// Q4_1 (32, 20): d, m, nibbles, x = q·d + m; Q5_0 / Q5_1: as Q4 with a fifth bit per value from a
/// 32-bit mask (Q5_0 centred at 16); Q8_0 (32, 34): d, 32 int8, x = q·d. In each 32-value block of
/// these, value j < 16 is byte j's low nibble and value j + 16 its high one. K-quants have 256-value
/// super-blocks with per-sub-block scales: Q2_K / Q4_K / Q5_K subtract a per-sub-block minimum
/// (d·scale·q − dmin·min), Q3_K / Q6_K are centred (d·scale·(q − 4 or 32)); Q8_K is d·q with an fp32 d.
public enum GGUFDequantization {
    /// Writes the `count` values of `bytes` (whole blocks of `type`) to `out`.
    public static func dequantize(_ type: GGMLType, _ bytes: UnsafeRawBufferPointer, count: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(count % type.blockSize == 0 && bytes.count >= count / type.blockSize * type.blockBytes,
                     "\(type.name): \(bytes.count) bytes cannot hold \(count) values")
        if type == .f32 {
            for i in 0..<count { out[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            return
        }
        let blocks = count / type.blockSize
        Parallel.forEachChunk(blocks, minimumPerThread: 1 << 12) { range in
            for b in range {
                let block = UnsafeRawBufferPointer(rebasing: bytes[(b * type.blockBytes)..<((b + 1) * type.blockBytes)])
                let y = out + b * type.blockSize
                switch type {
                case .f32: break  // handled above
                case .f16: y[0] = HalfFloat.float(u16(block, 0))
                case .bf16: y[0] = BFloat16.float(u16(block, 0))
                case .q4_0: q4_0(block, y)
                case .q4_1: q4_1(block, y)
                case .q5_0: q5_0(block, y)
                case .q5_1: q5_1(block, y)
                case .q8_0: q8_0(block, y)
                case .q2_K: q2_K(block, y)
                case .q3_K: q3_K(block, y)
                case .q4_K: q4_K(block, y)
                case .q5_K: q5_K(block, y)
                case .q6_K: q6_K(block, y)
                case .q8_K: q8_K(block, y)
                }
            }
        }
    }

    @inline(__always) private static func u16(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt16 {
        UInt16(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }
    @inline(__always) private static func half(_ b: UnsafeRawBufferPointer, _ offset: Int) -> Float { HalfFloat.float(u16(b, offset)) }
    @inline(__always) private static func i8(_ b: UnsafeRawBufferPointer, _ offset: Int) -> Int8 { Int8(bitPattern: b[offset]) }
    @inline(__always) private static func u32(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    // MARK: 32-value blocks

    private static func q4_0(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for j in 0..<16 {
            let q = b[2 + j]
            y[j] = Float(Int(q & 0x0F) - 8) * d
            y[j + 16] = Float(Int(q >> 4) - 8) * d
        }
    }

    private static func q4_1(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), m = half(b, 2)
        for j in 0..<16 {
            let q = b[4 + j]
            y[j] = Float(q & 0x0F) * d + m
            y[j + 16] = Float(q >> 4) * d + m
        }
    }

    /// The fifth bits of Q5 value j and j + 16, as 0 or 16.
    @inline(__always) private static func fifthBits(_ high: UInt32, _ j: Int) -> (Int, Int) {
        (Int((high >> UInt32(j)) << 4 & 0x10), Int((high >> UInt32(j + 12)) & 0x10))
    }

    private static func q5_0(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), high = u32(b, 2)
        for j in 0..<16 {
            let q = b[6 + j], (h0, h1) = fifthBits(high, j)
            y[j] = Float((Int(q & 0x0F) | h0) - 16) * d
            y[j + 16] = Float((Int(q >> 4) | h1) - 16) * d
        }
    }

    private static func q5_1(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0), m = half(b, 2), high = u32(b, 4)
        for j in 0..<16 {
            let q = b[8 + j], (h0, h1) = fifthBits(high, j)
            y[j] = Float(Int(q & 0x0F) | h0) * d + m
            y[j + 16] = Float(Int(q >> 4) | h1) * d + m
        }
    }

    private static func q8_0(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(b, 0)
        for j in 0..<32 { y[j] = Float(i8(b, 2 + j)) * d }
    }

    // MARK: 256-value super-blocks

    /// Scale and minimum of sub-block `j` (0..<8) of Q4_K / Q5_K: 6 bits each, packed in 12 bytes
    /// at `offset` — sub-blocks 0…3 in the low 6 bits of bytes 0…7, 4…7 in the nibbles of bytes
    /// 8…11 with their top 2 bits in the spare bits of bytes 0…7.
    @inline(__always) private static func scaleMin(_ j: Int, _ b: UnsafeRawBufferPointer, _ offset: Int) -> (Float, Float) {
        let q = { (i: Int) in b[offset + i] }
        if j < 4 { return (Float(q(j) & 63), Float(q(j + 4) & 63)) }
        return (Float((q(j + 4) & 0x0F) | ((q(j - 4) >> 6) << 4)), Float((q(j + 4) >> 4) | ((q(j) >> 6) << 4)))
    }

    private static func q2_K(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        // scales[16] at 0, qs[64] at 16, d at 80, dmin at 82
        let d = half(b, 80), dmin = half(b, 82)
        for n in 0..<2 {           // 128 values per half, 32 bytes of quants
            for j in 0..<4 {       // 2-bit plane j of those bytes
                for part in 0..<2 { // 16 values per scale
                    let scale = b[8 * n + 2 * j + part]
                    let dl = d * Float(scale & 0x0F), ml = dmin * Float(scale >> 4)
                    for l in 0..<16 {
                        let q = (b[16 + 32 * n + 16 * part + l] >> UInt8(2 * j)) & 3
                        y[128 * n + 32 * j + 16 * part + l] = dl * Float(q) - ml
                    }
                }
            }
        }
    }

    private static func q3_K(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        // hmask[32] at 0, qs[64] at 32, scales[12] at 96, d at 108
        let d = half(b, 108)
        let s = { (i: Int) in b[96 + i] }
        func scale(_ i: Int) -> Int {  // 6-bit scale i of 16: low nibble from bytes 0…7, top 2 bits from bytes 8…11
            let low = i < 8 ? s(i) & 0x0F : s(i - 8) >> 4
            let top = (s(8 + i % 4) >> UInt8(2 * (i / 4))) & 3
            return Int(low | top << 4) - 32
        }
        for n in 0..<2 {
            for j in 0..<4 {
                let mask = UInt8(1) << UInt8(4 * n + j)
                for part in 0..<2 {
                    let dl = d * Float(scale(8 * n + 2 * j + part))
                    for l in 0..<16 {
                        let k = 16 * part + l
                        let q = Int((b[32 + 32 * n + k] >> UInt8(2 * j)) & 3) - (b[k] & mask != 0 ? 0 : 4)
                        y[128 * n + 32 * j + k] = dl * Float(q)
                    }
                }
            }
        }
    }

    private static func q4_K(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        // d at 0, dmin at 2, scales[12] at 4, qs[128] at 16
        let d = half(b, 0), dmin = half(b, 2)
        for n in 0..<4 {  // 64 values: 32 low nibbles, then 32 high nibbles of 32 bytes
            let (sc1, m1) = scaleMin(2 * n, b, 4), (sc2, m2) = scaleMin(2 * n + 1, b, 4)
            let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
            for l in 0..<32 {
                let q = b[16 + 32 * n + l]
                y[64 * n + l] = d1 * Float(q & 0x0F) - min1
                y[64 * n + 32 + l] = d2 * Float(q >> 4) - min2
            }
        }
    }

    private static func q5_K(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        // d at 0, dmin at 2, scales[12] at 4, qh[32] at 16, qs[128] at 48
        let d = half(b, 0), dmin = half(b, 2)
        for n in 0..<4 {
            let (sc1, m1) = scaleMin(2 * n, b, 4), (sc2, m2) = scaleMin(2 * n + 1, b, 4)
            let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
            let bit1 = UInt8(1) << UInt8(2 * n), bit2 = UInt8(2) << UInt8(2 * n)
            for l in 0..<32 {
                let q = b[48 + 32 * n + l], high = b[16 + l]
                y[64 * n + l] = d1 * Float(Int(q & 0x0F) + (high & bit1 != 0 ? 16 : 0)) - min1
                y[64 * n + 32 + l] = d2 * Float(Int(q >> 4) + (high & bit2 != 0 ? 16 : 0)) - min2
            }
        }
    }

    private static func q6_K(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        // ql[128] at 0, qh[64] at 128, scales[16] (int8) at 192, d at 208
        let d = half(b, 208)
        for n in 0..<2 {  // 128 values from 64 low-nibble bytes and 32 high-bit bytes
            let ql = 64 * n, qh = 128 + 32 * n, sc = 192 + 8 * n
            for l in 0..<32 {
                let high = b[qh + l], s = l / 16
                let q1 = Int((b[ql + l] & 0x0F) | ((high >> 0) & 3) << 4) - 32
                let q2 = Int((b[ql + l + 32] & 0x0F) | ((high >> 2) & 3) << 4) - 32
                let q3 = Int((b[ql + l] >> 4) | ((high >> 4) & 3) << 4) - 32
                let q4 = Int((b[ql + l + 32] >> 4) | ((high >> 6) & 3) << 4) - 32
                y[128 * n + l] = d * Float(i8(b, sc + s)) * Float(q1)
                y[128 * n + l + 32] = d * Float(i8(b, sc + s + 2)) * Float(q2)
                y[128 * n + l + 64] = d * Float(i8(b, sc + s + 4)) * Float(q3)
                y[128 * n + l + 96] = d * Float(i8(b, sc + s + 6)) * Float(q4)
            }
        }
    }

    private static func q8_K(_ b: UnsafeRawBufferPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = Float(bitPattern: u32(b, 0))
        for j in 0..<256 { y[j] = d * Float(i8(b, 4 + j)) }
    }
}
