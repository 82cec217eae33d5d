// Dimensions: T tokens, Q = `size` the rows of a block.

/// The split of T positions into blocks of Q (the last block shorter when Q does not divide T): the
/// work items of `CausalAttention`. Query block i holds rows `rows(i)` and attends to keys
/// `0..<rows(i).upperBound`, the key blocks on and below the diagonal.
struct AttentionBlocks {
    let seqLen: Int  // T
    let size: Int    // Q

    /// ⌈T / Q⌉
    var count: Int { (seqLen + size - 1) / size }

    /// The positions of block `i`: `i·Q ..< min(T, (i+1)·Q)`.
    func rows(_ i: Int) -> Range<Int> { i * size ..< min(seqLen, (i + 1) * size) }

    /// Q·T: the values of a panel holding the scores of one block (rows of Q, at most T keys).
    var panelSize: Int { size * seqLen }

    /// Score entries the products compute per head, Σᵢ |rows(i)| · rows(i).upperBound: the lower
    /// triangle T(T+1)/2 plus the masked upper triangles of the diagonal blocks (about T·Q/2).
    var computedEntries: Int { (0..<count).reduce(0) { $0 + rows($1).count * rows($1).upperBound } }
}
