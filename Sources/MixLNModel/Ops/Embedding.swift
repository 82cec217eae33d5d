import MixLNTensor

// Dimensions: N = B·T rows (tokens), C channels, V vocabulary.

/// Token embedding lookup, times a scalar `s` (1, or DyT's learnable embedding scale).
public enum Embedding {
    /// `out[n] = s · table[tokens[n]]`.
    /// - Parameters: out (N, C), tokens (N), table (V, C)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, tokens: UnsafePointer<Int32>, table: UnsafePointer<T>, rows: Int, channels: Int, scale: T = 1
    ) {
        Parallel.forEachChunk(rows, minimumPerThread: 256) { range in
            for n in range {
                (out + n * channels).update(from: table + Int(tokens[n]) * channels, count: channels)
                if scale != 1 { VectorMath.scale(out + n * channels, scale, channels) }
            }
        }
    }

    /// `out[n] = s · table[tokens[n]]` from a table kept as bfloat16 bits, each row widened as it is read.
    /// - Parameters: out (N, C), tokens (N), table (V, C)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, tokens: UnsafePointer<Int32>, bfloat16Table table: UnsafePointer<UInt16>, rows: Int, channels: Int,
        scale: T = 1
    ) {
        Parallel.forEachChunk(rows, minimumPerThread: 256) { range in
            for n in range {
                T.widen(bfloat16: table + Int(tokens[n]) * channels, into: out + n * channels, count: channels)
                if scale != 1 { VectorMath.scale(out + n * channels, scale, channels) }
            }
        }
    }

    /// `dTable[tokens[n]] += s · dOut[n]`, except for `frozenRow` (PyTorch's `padding_idx`), which never gets gradient.
    /// - Parameters: dTable (V, C), dOut (N, C), tokens (N)
    public static func backward<T: TensorScalar>(
        dTable: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, tokens: UnsafePointer<Int32>,
        rows: Int, channels: Int, frozenRow: Int?, scale: T = 1
    ) {
        // Serial: two rows with the same token would race.
        for n in 0..<rows {
            let token = Int(tokens[n])
            if token == frozenRow { continue }
            VectorMath.axpy(scale, dOut + n * channels, dTable + token * channels, channels)
        }
    }

    /// The scale's gradient: `dScale += Σₙ dOut[n] · table[tokens[n]]` (every row, a frozen one included).
    /// - Parameters: dScale (1), dOut (N, C), tokens (N), table (V, C)
    public static func backwardScale<T: TensorScalar>(
        dScale: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, tokens: UnsafePointer<Int32>, table: UnsafePointer<T>,
        rows: Int, channels: Int
    ) {
        var sum: T = 0
        for n in 0..<rows { sum += VectorMath.dot(dOut + n * channels, table + Int(tokens[n]) * channels, channels) }
        dScale[0] += sum
    }
}
