import MixLNTensor

// Dimensions: N = B·T rows (tokens), C channels, V vocabulary.

/// Token embedding lookup.
public enum Embedding {
    /// `out[n] = table[tokens[n]]`.
    /// - Parameters: out (N, C), tokens (N), table (V, C)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, tokens: UnsafePointer<Int32>, table: UnsafePointer<T>, rows: Int, channels: Int
    ) {
        Parallel.forEachChunk(rows, minimumPerThread: 256) { range in
            for n in range {
                (out + n * channels).update(from: table + Int(tokens[n]) * channels, count: channels)
            }
        }
    }

    /// `out[n] = table[tokens[n]]` from a table kept as bfloat16 bits, each row widened as it is read.
    /// - Parameters: out (N, C), tokens (N), table (V, C)
    public static func forward<T: TensorScalar>(
        out: UnsafeMutablePointer<T>, tokens: UnsafePointer<Int32>, bfloat16Table table: UnsafePointer<UInt16>, rows: Int, channels: Int
    ) {
        Parallel.forEachChunk(rows, minimumPerThread: 256) { range in
            for n in range {
                T.widen(bfloat16: table + Int(tokens[n]) * channels, into: out + n * channels, count: channels)
            }
        }
    }

    /// `dTable[tokens[n]] += dOut[n]`, except for `frozenRow` (PyTorch's `padding_idx`), which never gets gradient.
    /// - Parameters: dTable (V, C), dOut (N, C), tokens (N)
    public static func backward<T: TensorScalar>(
        dTable: UnsafeMutablePointer<T>, dOut: UnsafePointer<T>, tokens: UnsafePointer<Int32>,
        rows: Int, channels: Int, frozenRow: Int?
    ) {
        // Serial: two rows with the same token would race.
        for n in 0..<rows {
            let token = Int(tokens[n])
            if token == frozenRow { continue }
            VectorMath.axpy(1, dOut + n * channels, dTable + token * channels, channels)
        }
    }
}
