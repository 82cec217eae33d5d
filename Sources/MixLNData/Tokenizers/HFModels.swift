import Foundation

/// A `tokenizer.json` model: turns one pre-tokenized word into ids.
protocol HFModel {
    var vocabularySize: Int { get }
    func tokenize(_ word: String) -> [Int32]
    func token(for id: Int32) -> String?
    func id(for token: String) -> Int32?
}

enum HFModels {
    static func make(_ json: HFJSON) throws -> any HFModel {
        // Old files may omit the type; the shape of the vocabulary tells.
        let type: String
        if json["type"].isNull {
            type = json["vocab"].isArray ? "Unigram" : (json["merges"].isNull ? "WordLevel" : "BPE")
        } else {
            type = try json.type()
        }
        switch type {
        case "BPE": return try BPE(json)
        case "Unigram": return try Unigram(json)
        default: throw TokenizerError.unsupportedModelType(path: json.path, type: type)
        }
    }

    /// Byte-pair encoding as `tokenizers` runs it: the word's characters (each to its id, to its
    /// `<0xXX>` bytes with byte fallback, or to unknown), then the lowest-ranked merge present,
    /// leftmost first, until none applies.
    final class BPE: HFModel {
        /// Token bytes → id (byte-exact; see `WordCache`).
        let vocabulary: [[UInt8]: Int32]
        let tokens: [String]
        /// (left id << 32 | right id) → (rank << 32 | new id)
        let merges: [UInt64: UInt64]
        let unkId: Int32?
        let fuseUnknown: Bool
        let byteFallback: Bool
        let ignoreMerges: Bool
        let continuingSubwordPrefix: String?
        let endOfWordSuffix: String?
        private let byteIds: [Int32]? // (256)
        private let cache = WordCache()

        init(_ json: HFJSON) throws {
            if !json["dropout"].isNull, case let dropout = try json["dropout"].double(), dropout > 0 {
                throw TokenizerError.malformed(path: json.path, reason: "model.dropout = \(dropout) is not supported (BPE dropout makes encoding random); set it to null")
            }
            let vocab = try json["vocab"].members()
            var vocabulary: [[UInt8]: Int32] = [:]
            vocabulary.reserveCapacity(vocab.count)
            for (token, value) in vocab {
                guard let id = try? value.int(), id >= 0, id <= Int(Int32.max) else {
                    throw value.missing("a non-negative integer id")
                }
                vocabulary[Array(token.utf8)] = Int32(id)
            }
            self.vocabulary = vocabulary
            var tokens = [String](repeating: "", count: (vocabulary.values.max().map(Int.init) ?? -1) + 1)
            for (token, id) in vocabulary { tokens[Int(id)] = String(decoding: token, as: UTF8.self) }
            self.tokens = tokens
            continuingSubwordPrefix = try json["continuing_subword_prefix"].optionalString()
            endOfWordSuffix = try json["end_of_word_suffix"].optionalString()
            var merges: [UInt64: UInt64] = [:]
            for (rank, entry) in try json["merges"].array().enumerated() {
                let pair: [String]
                if let text = try? entry.string() {
                    pair = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
                } else if let array = try? entry.array().map({ try $0.string() }) {
                    pair = array
                } else {
                    throw entry.missing("\"left right\" or [left, right]")
                }
                guard pair.count == 2 else { throw entry.missing("exactly two tokens") }
                var right = pair[1]
                if let prefix = continuingSubwordPrefix, right.bytesHavePrefix(prefix) {
                    right = String(decoding: right.utf8.dropFirst(prefix.utf8.count), as: UTF8.self)
                }
                guard let a = vocabulary[Array(pair[0].utf8)], let b = vocabulary[Array(pair[1].utf8)],
                      let merged = vocabulary[Array(pair[0].utf8) + Array(right.utf8)] else {
                    throw TokenizerError.malformed(path: json.path, reason: "\(entry.field) merges tokens that are not in model.vocab: \(pair)")
                }
                let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
                if merges[key] == nil { merges[key] = UInt64(rank) << 32 | UInt64(UInt32(merged)) }
            }
            self.merges = merges
            let unkToken = try json["unk_token"].optionalString()
            unkId = unkToken.flatMap { vocabulary[Array($0.utf8)] }
            fuseUnknown = try json["fuse_unk"].bool(default: false)
            byteFallback = try json["byte_fallback"].bool(default: false)
            ignoreMerges = try json["ignore_merges"].bool(default: false)
            byteIds = byteFallback ? byteFallbackIds(vocabulary) : nil
        }

        var vocabularySize: Int { tokens.count }
        func token(for id: Int32) -> String? { id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil }
        func id(for token: String) -> Int32? { vocabulary[Array(token.utf8)] }

        func tokenize(_ word: String) -> [Int32] {
            if let cached = cache[word] { return cached }
            let ids = merge(word)
            cache[word] = ids
            return ids
        }

        private func merge(_ word: String) -> [Int32] {
            if ignoreMerges, let id = vocabulary[Array(word.utf8)] { return [id] }
            // Initial symbols.
            var ids: [Int32] = []
            var previousIsUnknown = false
            let scalars = Array(word.unicodeScalars)
            for (index, scalar) in scalars.enumerated() {
                var piece = String(scalar)
                if index > 0, let prefix = continuingSubwordPrefix { piece = prefix + piece }
                if index == scalars.count - 1, let suffix = endOfWordSuffix { piece += suffix }
                if let id = vocabulary[Array(piece.utf8)] {
                    ids.append(id)
                    previousIsUnknown = false
                    continue
                }
                if let byteIds {
                    for byte in String(scalar).utf8 { ids.append(byteIds[Int(byte)]) }
                    previousIsUnknown = false
                    continue
                }
                guard let unk = unkId else { continue }
                if fuseUnknown && previousIsUnknown { continue }
                ids.append(unk)
                previousIsUnknown = true
            }
            guard ids.count > 1 else { return ids }
            // Merge loop: (rank, position) min-heap with stale entries skipped.
            let n = ids.count
            var next = (0..<n).map { $0 + 1 < n ? $0 + 1 : -1 }
            var prev = (0..<n).map { $0 - 1 }
            var alive = [Bool](repeating: true, count: n)
            struct Candidate: Comparable {
                var rank: UInt32, position: Int, newId: Int32
                static func < (a: Candidate, b: Candidate) -> Bool {
                    a.rank != b.rank ? a.rank < b.rank : a.position < b.position
                }
            }
            var queue = MinHeap<Candidate>()
            func lookup(_ left: Int32, _ right: Int32) -> (UInt32, Int32)? {
                guard let value = merges[UInt64(UInt32(left)) << 32 | UInt64(UInt32(right))] else { return nil }
                return (UInt32(value >> 32), Int32(truncatingIfNeeded: value & 0xFFFF_FFFF))
            }
            for i in 0..<(n - 1) {
                if let (rank, newId) = lookup(ids[i], ids[i + 1]) { queue.push(Candidate(rank: rank, position: i, newId: newId)) }
            }
            while let top = queue.pop() {
                let left = top.position
                guard alive[left], next[left] >= 0 else { continue }
                let right = next[left]
                guard let (_, newId) = lookup(ids[left], ids[right]), newId == top.newId else { continue }
                ids[left] = newId
                alive[right] = false
                next[left] = next[right]
                if next[right] >= 0 { prev[next[right]] = left }
                if prev[left] >= 0, let (rank, id) = lookup(ids[prev[left]], ids[left]) {
                    queue.push(Candidate(rank: rank, position: prev[left], newId: id))
                }
                if next[left] >= 0, let (rank, id) = lookup(ids[left], ids[next[left]]) {
                    queue.push(Candidate(rank: rank, position: left, newId: id))
                }
            }
            return (0..<n).compactMap { alive[$0] ? ids[$0] : nil }
        }
    }

    /// Unigram as `tokenizers` runs it: Viterbi over the vocabulary (scores in `Double`), unknown
    /// characters scored at the lowest score minus 10 and fused, byte fallback if asked.
    final class Unigram: HFModel {
        let vocabulary: [[UInt8]: Int32]
        let tokens: [String]
        let unkId: Int32?
        private let lattice: UnigramLattice<Double>
        private let byteIds: [Int32]?
        private let cache = WordCache()

        init(_ json: HFJSON) throws {
            var tokens: [String] = []
            var scores: [Double?] = []
            var vocabulary: [[UInt8]: Int32] = [:]
            for entry in try json["vocab"].array() {
                guard let pair = try? entry.array(), pair.count == 2, let token = try? pair[0].string(),
                      let score = try? pair[1].double() else {
                    throw entry.missing("[token, score]")
                }
                if vocabulary[Array(token.utf8)] == nil { vocabulary[Array(token.utf8)] = Int32(tokens.count) }
                tokens.append(token)
                scores.append(score)
            }
            guard !tokens.isEmpty else { throw json["vocab"].missing("a non-empty array of [token, score]") }
            self.tokens = tokens
            self.vocabulary = vocabulary
            if json["unk_id"].isNull {
                unkId = nil
            } else {
                let id = try json["unk_id"].int()
                guard id >= 0 && id < tokens.count else {
                    throw TokenizerError.malformed(path: json.path, reason: "model.unk_id = \(id) is outside the \(tokens.count) tokens")
                }
                unkId = Int32(id)
            }
            let minScore = scores.compactMap { $0 }.min() ?? 0
            let trie = PieceTrie(tokens.enumerated().map { (Array($1.utf8), Int32($0)) })
            lattice = UnigramLattice(trie: trie, scores: scores, unkId: unkId ?? -1, unkScore: minScore - 10)
            byteIds = try json["byte_fallback"].bool(default: false) ? byteFallbackIds(vocabulary) : nil
        }

        var vocabularySize: Int { tokens.count }
        func token(for id: Int32) -> String? { id >= 0 && Int(id) < tokens.count ? tokens[Int(id)] : nil }
        func id(for token: String) -> Int32? { vocabulary[Array(token.utf8)] }

        func tokenize(_ word: String) -> [Int32] {
            if let cached = cache[word] { return cached }
            let bytes = Array(word.utf8)
            let segments = bytes.withUnsafeBufferPointer { lattice.segment($0) }
            var ids: [Int32] = []
            var unknownStart: Int? = nil
            func flushUnknown(_ end: Int) {
                guard let start = unknownStart else { return }
                if let byteIds {
                    for i in start..<end { ids.append(byteIds[Int(bytes[i])]) }
                } else if let unkId {
                    ids.append(unkId)
                }
                unknownStart = nil
            }
            for segment in segments {
                if segment.id < 0 || segment.id == unkId {
                    if unknownStart == nil { unknownStart = segment.range.lowerBound }
                    continue
                }
                flushUnknown(segment.range.lowerBound)
                ids.append(segment.id)
            }
            flushUnknown(bytes.count)
            cache[word] = ids
            return ids
        }
    }
}

/// A bounded, thread-safe word → ids cache (words repeat a lot in running text). Keyed by the
/// UTF-8 bytes: Swift's `String` equality treats canonically equivalent strings (`ñ` and
/// `n` + U+0303) as equal, but the tokenizers do not.
final class WordCache: @unchecked Sendable {
    private var entries: [[UInt8]: [Int32]] = [:]
    private let lock = NSLock()
    private let capacity = 100_000

    subscript(word: String) -> [Int32]? {
        get {
            let key = Array(word.utf8)
            lock.lock(); defer { lock.unlock() }
            return entries[key]
        }
        set {
            guard word.utf8.count <= 256 else { return }
            let key = Array(word.utf8)
            lock.lock(); defer { lock.unlock() }
            if entries.count < capacity { entries[key] = newValue }
        }
    }
}

/// The id of each byte's `<0xXX>` piece (256 entries), or nil unless the vocabulary has all 256.
func byteFallbackIds(_ vocabulary: [[UInt8]: Int32]) -> [Int32]? {
    let ids = (0..<256).map { vocabulary[Array(bytePieceName(UInt8($0)).utf8)] ?? -1 }
    return ids.contains(-1) ? nil : ids
}
