import Foundation

/// The sequences of some token shards, read from the memory-mapped files when asked for: exactly
/// the sequences, in the same order, that `SequenceBuilder.build` makes from the shards' documents,
/// without copying the corpus. Memory is a few words per shard, plus one index per document too
/// short to predict anything (document mode skips those; real corpora have few or none).
///
/// Document mode: sequence i is the i-th document of at least 2 ids (shards in order, documents in
/// order), truncated to `seqLen` and right-padded. Packing mode: the shards' ids concatenated (each
/// document already ends with EOS) and cut into windows of `seqLen`; window w predicts the first id
/// of window w + 1; a final window of fewer than 2 ids is dropped.
///
/// Pages the reads map stay counted in the resident set (as file pages, shared and reclaimable);
/// after about `residentBudget` bytes of reads every shard's pages are released
/// (`TokenShard.releasePages`), so the resident set stays flat over an epoch of random reads too.
public final class ShardSequences: SequenceSource, @unchecked Sendable {
    public let shards: [TokenShard]
    public let seqLen: Int // T
    public let count: Int // N
    public let packing: Bool
    private let padId: Int32
    private let ignoreIndex: Int32
    private let documentStarts: [Int] // (S + 1) global index of each shard's first document; last = all documents
    private let tokenStarts: [Int] // (S + 1) global index of each shard's first id; last = all ids
    /// Document mode: the global indices of documents with fewer than 2 ids, ascending.
    private let skipped: [Int]
    /// Bytes of mapped pages read since the shards' pages were last released.
    public let residentBudget: Int
    /// What one read may leave mapped: the kernel maps the pages around a faulting one (fault-around,
    /// 64 KiB by default, and whole large folios of the page cache on recent kernels), and a document
    /// read touches the offsets table as well; about 0.5 MB a read was measured on Linux 6.
    static let mappedPerRead = 1 << 20
    private var mappedSinceRelease = 0 // guarded by `lock`
    private let lock = NSLock()

    /// - Parameters:
    ///   - padId: the id that right-pads a sequence (never attended to nor predicted).
    ///   - residentBudget: bytes of reads (each counted as at least `mappedPerRead`) after which the
    ///     shards' pages are released.
    /// - Throws: `.invalidOption` when `seqLen < 2`.
    public init(shards: [TokenShard], seqLen: Int, packing: Bool, padId: Int32, ignoreIndex: Int32 = -100,
                residentBudget: Int = 32 << 20) throws {
        guard seqLen >= 2 else {
            throw DataError.invalidOption(name: "seq_len", value: "\(seqLen)", expected: "at least 2")
        }
        self.shards = shards
        self.seqLen = seqLen
        self.packing = packing
        self.padId = padId
        self.ignoreIndex = ignoreIndex
        self.residentBudget = residentBudget
        var documentStarts = [0], tokenStarts = [0]
        for shard in shards {
            documentStarts.append(documentStarts.last! + shard.documentCount)
            tokenStarts.append(tokenStarts.last! + shard.tokenCount)
        }
        self.documentStarts = documentStarts
        self.tokenStarts = tokenStarts
        if packing {
            skipped = []
            let total = tokenStarts.last!
            let windows = (total + seqLen - 1) / seqLen
            count = windows > 0 && total - (windows - 1) * seqLen < 2 ? windows - 1 : windows
        } else {
            var skipped: [Int] = []
            for (s, shard) in shards.enumerated() {
                for d in 0..<shard.documentCount where shard.documentRange(d).count < 2 { skipped.append(documentStarts[s] + d) }
            }
            self.skipped = skipped
            count = documentStarts.last! - skipped.count
        }
    }

    /// Convenience for `options` and `tokenizer` as `SequenceBuilder` would use them.
    public convenience init(shards: [TokenShard], tokenizer: any Tokenizer, options: SequenceOptions) throws {
        try self.init(shards: shards, seqLen: options.seqLen, packing: options.packing,
                      padId: options.padId(for: tokenizer), ignoreIndex: options.ignoreIndex)
    }

    public func sequence(at index: Int) -> TokenSequence {
        precondition(index >= 0 && index < count, "sequence index \(index) is outside 0..<\(count)")
        let built: TokenSequence?
        if packing {
            let start = index * seqLen, total = tokenStarts.last!
            let end = min(start + seqLen, total)
            built = SequenceBuilder.sequence(ids(in: start..<end), next: end < total ? id(at: end) : nil,
                                             seqLen: seqLen, padId: padId, ignoreIndex: ignoreIndex)
        } else {
            let (shard, document) = locate(document: documentIndex(ofSequence: index))
            let range = shard.documentRange(document)
            built = SequenceBuilder.sequence(shard.tokens(in: range.lowerBound..<min(range.upperBound, range.lowerBound + seqLen)),
                                             next: nil, seqLen: seqLen, padId: padId, ignoreIndex: ignoreIndex)
        }
        noteRead(bytes: seqLen * (shards.first?.dtypeBytes ?? 2))
        return built!  // every counted sequence has at least 2 ids
    }

    /// Counts a read and releases the shards' pages once `residentBudget` bytes have been mapped.
    private func noteRead(bytes: Int) {
        lock.lock()
        defer { lock.unlock() }
        mappedSinceRelease += max(bytes, Self.mappedPerRead)
        guard mappedSinceRelease >= residentBudget else { return }
        mappedSinceRelease = 0
        for shard in shards { shard.releasePages() }
    }

    /// The global document of sequence `index`: the index-th document not in `skipped`. Before the
    /// j-th skipped document lie `skipped[j] − j` kept ones, so the answer is `index` plus the number
    /// of j with `skipped[j] − j ≤ index` (a non-decreasing quantity, found by bisection).
    private func documentIndex(ofSequence index: Int) -> Int {
        var low = 0, high = skipped.count
        while low < high {
            let mid = (low + high) / 2
            if skipped[mid] - mid <= index { low = mid + 1 } else { high = mid }
        }
        return index + low
    }

    /// The shard holding global document `document`, and its index there.
    private func locate(document: Int) -> (TokenShard, Int) {
        let s = Self.lastStart(documentStarts, atMost: document)
        return (shards[s], document - documentStarts[s])
    }

    /// Global ids `range`, across shard boundaries.
    private func ids(in range: Range<Int>) -> [Int32] {
        var result: [Int32] = []
        result.reserveCapacity(range.count)
        var position = range.lowerBound
        while position < range.upperBound {
            let s = Self.lastStart(tokenStarts, atMost: position)
            let end = min(range.upperBound, tokenStarts[s + 1])
            result += shards[s].tokens(in: (position - tokenStarts[s])..<(end - tokenStarts[s]))
            position = end
        }
        return result
    }

    private func id(at position: Int) -> Int32 {
        let s = Self.lastStart(tokenStarts, atMost: position)
        return shards[s].token(at: position - tokenStarts[s])
    }

    /// The last shard whose start is at most `value`: the one holding it (empty shards share their
    /// start with the next one, which is then the last such).
    private static func lastStart(_ starts: [Int], atMost value: Int) -> Int {
        var low = 0, high = starts.count - 1  // starts.last is the end, never a shard
        while low < high {
            let mid = (low + high) / 2
            if starts[mid] <= value { low = mid + 1 } else { high = mid }
        }
        return low - 1
    }
}
