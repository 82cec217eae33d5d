import MixLNTensor

// Dimensions: P parameters (the layout's count), M the largest weight matrix the forward multiplies by.

/// How a model holds its weights in memory.
public enum WeightPrecision: String, CaseIterable, Sendable {
    /// One `T` per parameter in `Transformer.parameters`, with gradients beside it: training and analysis.
    case fp32
    /// The checkpoint's bfloat16 values, read in place from the memory-mapped safetensors files and
    /// widened to `T` one matrix at a time: about 2 bytes per parameter. Forward only.
    case bf16
}

/// A model's weights kept as bfloat16 and widened on demand, so a LLaMA-2-7B-shaped model needs
/// about 13.5 GB instead of 27 GB (fp32 weights) + 27 GB (gradients).
///
/// In fp32 matmul precision, matrices are widened into one scratch buffer the size of the largest
/// one, so at most one widened matrix exists at a time; norm weights are tiny and are widened once
/// at load. Widening is exact, so a forward gives bit for bit the logits of the fp32 model loaded
/// from the same file. In bf16 matmul precision the GEMMs read the stored bits in place
/// (`contiguousBits`): nothing is widened and the scratch is never allocated.
final class BFloat16Weights<T: TensorScalar> {
    /// A run of consecutive layout positions and where its bfloat16 values are.
    struct Segment {
        let offset: Int                // first layout position
        let count: Int
        let bits: UnsafePointer<UInt16>  // (count) in the mapped file, or in `copies`
    }

    private let segments: [Segment]        // sorted by offset, one per stored tensor
    private let vectors: [Int: Buffer<T>]  // norm weights by layout offset, widened at load
    private let largestMatrix: Int
    private lazy var scratch = Buffer<T>(count: largestMatrix)  // (M) the one widened matrix, allocated on first use
    /// Ranges that span several stored tensors (a fused q|k|v or gate|up block), copied together
    /// once, by layout offset (the tensors of a block need not be adjacent in the file).
    private var joined: [Int: BFloat16Buffer] = [:]
    /// Keeps the memory-mapped files, and copies of tensors that could not be read in place, alive.
    private let owners: [AnyObject]

    /// - Parameters: segments of every matrix (embedding, projections, untied head); vectors: every norm weight, already widened.
    init(segments: [Segment], vectors: [Int: Buffer<T>], largestMatrix: Int, owners: [AnyObject]) {
        self.segments = segments.sorted { $0.offset < $1.offset }
        self.vectors = vectors
        self.largestMatrix = largestMatrix
        self.owners = owners
    }

    /// The layout range `offset..<offset+count` as `T`: a norm weight from its widened copy, or a
    /// matrix widened into the scratch buffer (valid until the next matrix is asked for).
    func weights(_ offset: Int, count: Int) -> UnsafePointer<T> {
        if let vector = vectors[offset], vector.count == count { return UnsafePointer(vector.pointer) }
        precondition(count <= scratch.count, "a weight range larger than the largest matrix")
        var first = segments.partitioningIndex { $0.offset + $0.count > offset }
        var covered = offset
        while covered < offset + count {
            precondition(first < segments.count && segments[first].offset == covered, "weight range \(offset)..<\(offset + count) is not stored")
            let segment = segments[first]
            let n = min(segment.count, offset + count - covered)
            let out = scratch.pointer + (covered - offset), bits = segment.bits
            Parallel.forEachChunk(n, minimumPerThread: 1 << 16) { range in
                T.widen(bfloat16: bits + range.lowerBound, into: out + range.lowerBound, count: range.count)
            }
            covered += n
            first += 1
        }
        return UnsafePointer(scratch.pointer)
    }

    /// The layout range `offset..<offset+count` of a matrix as contiguous bfloat16 bits: the stored
    /// tensor itself when one covers the range, else the tensors it spans copied side by side once
    /// (kept for the model's lifetime).
    func contiguousBits(_ offset: Int, count: Int) -> UnsafePointer<UInt16> {
        let first = segments.partitioningIndex { $0.offset + $0.count > offset }
        precondition(first < segments.count && segments[first].offset <= offset, "weight range \(offset)..<\(offset + count) is not stored")
        let segment = segments[first]
        if offset + count <= segment.offset + segment.count { return segment.bits + (offset - segment.offset) }
        if let copy = joined[offset], copy.count == count { return UnsafePointer(copy.pointer) }
        let copy = BFloat16Buffer(count: count)
        var index = first, covered = offset
        while covered < offset + count {
            precondition(index < segments.count && segments[index].offset == covered, "weight range \(offset)..<\(offset + count) is not stored")
            let n = min(segments[index].count, offset + count - covered)
            (copy.pointer + (covered - offset)).update(from: segments[index].bits, count: n)
            covered += n
            index += 1
        }
        joined[offset] = copy
        return UnsafePointer(copy.pointer)
    }

    /// The bfloat16 bits of the tensor stored at layout `offset` (e.g. the embedding table, read a row at a time).
    func bits(at offset: Int) -> UnsafePointer<UInt16> {
        let i = segments.partitioningIndex { $0.offset >= offset }
        precondition(i < segments.count && segments[i].offset == offset, "no tensor stored at \(offset)")
        return segments[i].bits
    }
}

extension Array {
    /// The first index whose element satisfies `belongs`, for a predicate false then true along the array.
    func partitioningIndex(where belongs: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if belongs(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
