/// A fixed-size block of bfloat16 values (their bits as `UInt16`) that owns its memory: the bf16
/// copies of weights and activations that GEMMs read when they run in bf16.
///
/// The memory is not initialized: every user writes a range before reading it, and pages that are
/// never written (slots of a layout-sized copy that hold no matrix) never become resident.
public final class BFloat16Buffer {
    public let count: Int
    public let pointer: UnsafeMutablePointer<UInt16>

    public init(count: Int) {
        precondition(count >= 0, "buffer size must be non-negative")
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
    }

    deinit { pointer.deallocate() }

    /// `x` (count values) rounded to bfloat16 into `pointer + offset`, in parallel.
    public func round<T: TensorScalar>(_ x: UnsafePointer<T>, count n: Int, at offset: Int = 0) {
        precondition(offset >= 0 && offset + n <= count, "bf16 copy of \(n) values at \(offset) exceeds the buffer of \(count)")
        let out = pointer + offset
        let span = OpProfiler.begin()
        defer { OpProfiler.end(span, .bf16Rounding) }
        Parallel.forEachChunk(n, minimumPerThread: 1 << 15) { range in
            T.roundToBFloat16(x + range.lowerBound, into: out + range.lowerBound, count: range.count)
        }
    }

    /// The values at `offset..<offset+n` widened to `T` (exact).
    public func widened<T: TensorScalar>(_ n: Int, at offset: Int = 0, as: T.Type = Float.self) -> [T] {
        [T](unsafeUninitializedCapacity: n) { out, initialized in
            T.widen(bfloat16: pointer + offset, into: out.baseAddress!, count: n)
            initialized = n
        }
    }
}
