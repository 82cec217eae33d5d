/// The two subword algorithms both file formats share: unigram Viterbi segmentation and
/// priority-queue BPE merging. Each works on UTF-8 bytes and returns byte ranges with ids.

/// A piece of the segmented input: `bytes[range]`, and its id (`unkId` for unknown spans).
struct Segment {
    var range: Range<Int>
    var id: Int32
}

/// Unigram segmentation: the path through the lattice of vocabulary pieces with the highest total
/// score (SentencePiece's `EncodeOptimized`, which `tokenizers` ports). A character no piece
/// covers becomes an `unkId` segment scored `unkScore`. Ties keep the first candidate found,
/// trying shorter pieces first, exactly as the references do. `Score` is `Float` for
/// SentencePiece and `Double` for `tokenizers`, so sums round as theirs do.
struct UnigramLattice<Score: BinaryFloatingPoint> {
    let trie: PieceTrie
    /// Score used in the lattice per id; nil for ids the lattice skips (UNUSED pieces).
    let scores: [Score?]
    let unkId: Int32
    let unkScore: Score

    func segment(_ text: UnsafeBufferPointer<UInt8>) -> [Segment] {
        let n = text.count
        guard n > 0 else { return [] }
        var bestScore = [Score](repeating: 0, count: n + 1)
        var startsAt = [Int](repeating: -1, count: n + 1)
        var bestId = [Int32](repeating: -1, count: n + 1)
        var start = 0
        while start < n {
            let base = bestScore[start]
            let charLength = min(n - start, utf8Length(text[start]))
            var hasSingleNode = false
            trie.commonPrefixSearch(text, from: start, to: n) { length, id in
                guard let score = scores[Int(id)] else { return }
                let end = start + length
                let candidate = score + base
                if startsAt[end] == -1 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    startsAt[end] = start
                    bestId[end] = id
                }
                if length == charLength { hasSingleNode = true }
            }
            if !hasSingleNode {
                let end = start + charLength
                let candidate = unkScore + base
                if startsAt[end] == -1 || candidate > bestScore[end] {
                    bestScore[end] = candidate
                    startsAt[end] = start
                    bestId[end] = unkId
                }
            }
            start += charLength
        }
        var segments: [Segment] = []
        var end = n
        while end > 0 {
            let begin = startsAt[end]
            segments.append(Segment(range: begin..<end, id: bestId[end]))
            end = begin
        }
        return segments.reversed()
    }
}

/// A binary min-heap ordered by `<`.
struct MinHeap<Element: Comparable> {
    private var items: [Element] = []
    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ element: Element) {
        items.append(element)
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child] < items[parent] else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var smallest = parent
            if left < items.count, items[left] < items[smallest] { smallest = left }
            if right < items.count, items[right] < items[smallest] { smallest = right }
            if smallest == parent { break }
            items.swapAt(parent, smallest)
            parent = smallest
        }
        return top
    }
}

/// A doubly linked list of symbols that BPE merges in place; merged-away symbols become empty.
struct SymbolList {
    var starts: [Int]
    var ends: [Int]
    var ids: [Int32]
    var prev: [Int]
    var next: [Int]

    init(ranges: [Range<Int>], ids: [Int32]) {
        let n = ranges.count
        starts = ranges.map(\.lowerBound)
        ends = ranges.map(\.upperBound)
        self.ids = ids
        prev = (0..<n).map { $0 - 1 }
        next = (0..<n).map { $0 + 1 < n ? $0 + 1 : -1 }
    }

    /// Joins symbol `right` into `left` (its successor) with id `id`.
    mutating func merge(_ left: Int, _ right: Int, id: Int32) {
        ends[left] = ends[right]
        ids[left] = id
        next[left] = next[right]
        if next[right] >= 0 { prev[next[right]] = left }
        starts[right] = ends[right] // empty
    }

    func isLive(_ i: Int) -> Bool { starts[i] < ends[i] }

    /// The surviving symbols, in order.
    var segments: [Segment] {
        var result: [Segment] = []
        var i = starts.isEmpty ? -1 : 0
        while i >= 0 {
            result.append(Segment(range: starts[i]..<ends[i], id: ids[i]))
            i = next[i]
        }
        return result
    }
}
