import MixLNTensor

// Dimensions: P parameters (the layout's count).

/// The bf16 rounding of a model's weight matrices, which its GEMMs read in `MatmulPrecision.bf16`:
/// made from the fp32 parameters at the first forward after they change (once per optimizer
/// step), never per matmul.
///
/// The copy sits at the matrices' layout offsets, so a weight at `parameters + offset` is at
/// `bits + offset`; the slots of the embedding (unless the head is tied to it) and of the norm
/// weights, which no GEMM reads, are never written (and never become resident).
final class MatmulWeightCopy<T: TensorScalar> {
    /// The layout ranges the GEMMs read as weights: the projections and the LM head (the embedding when tied).
    private let ranges: [Range<Int>]
    private let copy: BFloat16Buffer  // (P)
    /// Whether the copy holds the current parameters (cleared by `invalidate`).
    private(set) var isCurrent = false
    /// Debug builds: a fingerprint of the parameters the copy was made from.
    private var fingerprint: [UInt64] = []

    init(layout: ParameterLayout) {
        let roles: Set<ParameterRole> = [.query, .key, .value, .attentionOutput, .gate, .up, .down, .lmHead]
        ranges = layout.tensors.filter { roles.contains($0.role) || $0.offset == layout.lmHead }
            .map { $0.offset..<($0.offset + $0.count) }
        copy = BFloat16Buffer(count: layout.count)
    }

    /// The parameters changed: the next `refresh` rounds them again.
    func invalidate() { isCurrent = false }

    /// Rounds the matrices of `parameters` (P) into the copy unless it is current. Debug builds
    /// check that a current copy's parameters did not change behind its back.
    func refresh(from parameters: Buffer<T>) {
        if isCurrent {
            assert(fingerprint == Self.fingerprint(parameters),
                   "parameters changed without parametersDidChange(): the bf16 weight copy is stale")
            return
        }
        for range in ranges { copy.round(parameters.pointer + range.lowerBound, count: range.count, at: range.lowerBound) }
        isCurrent = true
        assert({ fingerprint = Self.fingerprint(parameters); return true }())
    }

    /// The bf16 bits of the matrix at layout `offset`.
    func bits(at offset: Int) -> UnsafePointer<UInt16> {
        precondition(isCurrent, "the bf16 weight copy is refreshed before a forward reads it")
        return UnsafePointer(copy.pointer + offset)
    }

    /// Σ p² and Σ p, by bit pattern (NaN-safe): a cheap witness of a change.
    private static func fingerprint(_ parameters: Buffer<T>) -> [UInt64] {
        let p = parameters.pointer, n = parameters.count
        return [T.dotInDouble(p, p, count: n).bitPattern, Double(T.sum(p, count: n)).bitPattern]
    }
}
