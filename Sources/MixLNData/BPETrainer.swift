import Foundation

/// Learns a byte-level BPE vocabulary (GPT-2 style) from text, and writes it as a Hugging Face
/// `tokenizer.json` that the `tokenizers` library loads and encodes with.
///
/// Text is split with GPT-2's pre-tokenization pattern (`ByteLevel.preTokenize`), and words are
/// counted; training then repeatedly merges the most frequent adjacent pair of symbols inside
/// words. Ties go to the pair of smaller symbol ids (left, then right), so the result is a
/// function of the word counts alone — the same for any document order or thread count.
///
/// Ids: 0…255 are the bytes (so a byte's id is its value), then one id per new token in merge
/// order, then `<|endoftext|>` last, which serves as end-of-sequence and padding (as GPT-2).
public struct BPETrainer {
    public let vocabularySize: Int
    public let minFrequency: Int
    /// Word (UTF-8 bytes of one pre-tokenized piece) → occurrences.
    public private(set) var wordCounts: [[UInt8]: Int] = [:]

    /// - Parameters:
    ///   - vocabularySize: total ids, special token included; at least 257.
    ///   - minFrequency: a pair seen fewer times is never merged (training may stop early).
    public init(vocabularySize: Int, minFrequency: Int = 2) throws {
        guard vocabularySize >= 257 else {
            throw DataError.invalidOption(name: "vocab_size", value: "\(vocabularySize)",
                                          expected: "at least 257 (256 bytes and <|endoftext|>)")
        }
        guard minFrequency >= 1 else {
            throw DataError.invalidOption(name: "min_frequency", value: "\(minFrequency)", expected: "at least 1")
        }
        self.vocabularySize = vocabularySize
        self.minFrequency = minFrequency
    }

    /// Counts the words of one document.
    public mutating func add(_ text: String) {
        for word in ByteLevel.preTokenize(text) { wordCounts[word, default: 0] += 1 }
    }

    /// Merges counts from another trainer (for counting documents in parallel).
    public mutating func add(counts: [[UInt8]: Int]) {
        wordCounts.merge(counts, uniquingKeysWith: +)
    }

    /// Runs the merges.
    public func train() -> ByteLevelBPE {
        // Words in a fixed order (by bytes) so every structure below is built deterministically.
        let sortedWords = wordCounts.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        var words: [[Int32]] = sortedWords.map { $0.key.map { Int32($0) } }
        let counts: [Int] = sortedWords.map(\.value)
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var idOf: [[UInt8]: Int32] = Dictionary(uniqueKeysWithValues: tokens.enumerated().map { ($1, Int32($0)) })
        var merges: [(Int32, Int32)] = []
        var mergedPairs = Set<UInt64>()

        var pairCounts: [UInt64: Int] = [:]
        var pairWords: [UInt64: [Int]] = [:] // words that contained the pair when it was counted
        for (w, word) in words.enumerated() where word.count > 1 {
            for k in 0..<(word.count - 1) {
                let pair = Self.key(word[k], word[k + 1])
                pairCounts[pair, default: 0] += counts[w]
                if pairWords[pair]?.last != w { pairWords[pair, default: []].append(w) }
            }
        }
        var heap = MinHeap<PairCandidate>()
        for (pair, count) in pairCounts { heap.push(PairCandidate(count: count, pair: pair)) }

        let target = vocabularySize - 1 // room for <|endoftext|>
        while tokens.count < target, let top = heap.pop() {
            let current = pairCounts[top.pair] ?? 0
            if current != top.count {
                if current > 0 && current < top.count { heap.push(PairCandidate(count: current, pair: top.pair)) }
                continue // a stale entry; a current one is (or now is) in the heap
            }
            guard current >= minFrequency else { break }
            let (a, b) = (Int32(truncatingIfNeeded: top.pair >> 32), Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF))
            let merged = tokens[Int(a)] + tokens[Int(b)]
            let newId: Int32
            if let existing = idOf[merged] {
                newId = existing // the same bytes reached by another merge order: one id, as HF does
            } else {
                newId = Int32(tokens.count)
                tokens.append(merged)
                idOf[merged] = newId
            }
            if mergedPairs.insert(top.pair).inserted { merges.append((a, b)) } // (re-formed only via a reused id)
            pairCounts[top.pair] = nil
            var delta: [UInt64: Int] = [:]
            for w in pairWords.removeValue(forKey: top.pair) ?? [] {
                let old = words[w]
                var new: [Int32] = []
                new.reserveCapacity(old.count)
                var k = 0
                while k < old.count {
                    if k + 1 < old.count && old[k] == a && old[k + 1] == b {
                        new.append(newId)
                        k += 2
                    } else {
                        new.append(old[k])
                        k += 1
                    }
                }
                guard new.count != old.count else { continue }
                for k in 0..<(old.count - 1) { delta[Self.key(old[k], old[k + 1]), default: 0] -= counts[w] }
                for k in 0..<(new.count - 1) {
                    let pair = Self.key(new[k], new[k + 1])
                    delta[pair, default: 0] += counts[w]
                    if pairWords[pair]?.last != w { pairWords[pair, default: []].append(w) }
                }
                words[w] = new
            }
            for (pair, change) in delta where change != 0 && pair != top.pair {
                let count = (pairCounts[pair] ?? 0) + change
                pairCounts[pair] = count > 0 ? count : nil
                if change > 0 { heap.push(PairCandidate(count: count, pair: pair)) }
            }
        }
        return ByteLevelBPE(tokens: tokens, merges: merges)
    }

    @inline(__always)
    static func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }
}

/// A merge candidate in the trainer's heap. `MinHeap` pops the smallest, so "smaller" is the
/// better candidate: the larger count first, then the smaller pair key (smaller left id, then
/// smaller right id) — the deterministic tie-break.
struct PairCandidate: Comparable {
    let count: Int
    let pair: UInt64

    static func < (x: PairCandidate, y: PairCandidate) -> Bool {
        x.count != y.count ? x.count > y.count : x.pair < y.pair
    }
}

/// A trained byte-level BPE: its tokens, merges, an encoder that applies the merges as the
/// Hugging Face BPE model does (lowest-ranked pair first, leftmost first), and its
/// `tokenizer.json`.
public struct ByteLevelBPE: Sendable {
    public static let endOfText = "<|endoftext|>"
    /// Bytes of each id below `endOfTextId`.
    public let tokens: [[UInt8]]
    /// Merges in rank order: `(left id, right id)`.
    public let merges: [(Int32, Int32)]
    private let mergeTable: [UInt64: (rank: Int, id: Int32)]

    public init(tokens: [[UInt8]], merges: [(Int32, Int32)]) {
        self.tokens = tokens
        self.merges = merges
        let idOf = Dictionary(tokens.enumerated().map { ($1, Int32($0)) }, uniquingKeysWith: { first, _ in first })
        var table: [UInt64: (rank: Int, id: Int32)] = [:]
        for (rank, (a, b)) in merges.enumerated() where table[BPETrainer.key(a, b)] == nil {
            table[BPETrainer.key(a, b)] = (rank, idOf[tokens[Int(a)] + tokens[Int(b)]]!)
        }
        mergeTable = table
    }

    public var endOfTextId: Int32 { Int32(tokens.count) }
    public var vocabularySize: Int { tokens.count + 1 }

    /// The ids of `text` (no special tokens added; `<|endoftext|>` in the text is not special here).
    public func encode(_ text: String) -> [Int32] {
        var ids: [Int32] = []
        var cache: [[UInt8]: [Int32]] = [:]
        for word in ByteLevel.preTokenize(text) {
            if let known = cache[word] { ids += known; continue }
            let pieces = encodeWord(word)
            cache[word] = pieces
            ids += pieces
        }
        return ids
    }

    func encodeWord(_ word: [UInt8]) -> [Int32] {
        var symbols = word.map { Int32($0) }
        while symbols.count > 1 {
            var best: (rank: Int, id: Int32)?
            var pair: (Int32, Int32) = (0, 0)
            for k in 0..<(symbols.count - 1) {
                if let m = mergeTable[BPETrainer.key(symbols[k], symbols[k + 1])], m.rank < (best?.rank ?? .max) {
                    best = m
                    pair = (symbols[k], symbols[k + 1])
                }
            }
            guard let best else { break }
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count && symbols[k] == pair.0 && symbols[k + 1] == pair.1 {
                    merged.append(best.id)
                    k += 2
                } else {
                    merged.append(symbols[k])
                    k += 1
                }
            }
            symbols = merged
        }
        return symbols
    }

    /// The text of `ids`; `<|endoftext|>` and unknown ids are skipped.
    public func decode(_ ids: [Int32]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id >= 0 && Int(id) < tokens.count { bytes += tokens[Int(id)] }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A Hugging Face `tokenizer.json`: BPE model with `vocab` (in id order) and `merges`,
    /// `ByteLevel` pre-tokenizer (no prefix space, GPT-2 regex), post-processor and decoder, and
    /// `<|endoftext|>` as a special added token.
    public func tokenizerJSON() -> String {
        let special = "{\"id\": \(endOfTextId), \"content\": \(jsonString(Self.endOfText)), \"single_word\": false, "
            + "\"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}"
        var vocab: [String] = tokens.enumerated().map { "\(jsonString(ByteLevel.string(of: $1))): \($0)" }
        vocab.append("\(jsonString(Self.endOfText)): \(endOfTextId)")
        let mergeLines = merges.map { a, b in
            jsonString(ByteLevel.string(of: tokens[Int(a)]) + " " + ByteLevel.string(of: tokens[Int(b)]))
        }
        return """
            {
              "version": "1.0",
              "truncation": null,
              "padding": null,
              "added_tokens": [
                \(special)
              ],
              "normalizer": null,
              "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
              "post_processor": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": true},
              "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
              "model": {
                "type": "BPE",
                "dropout": null,
                "unk_token": null,
                "continuing_subword_prefix": null,
                "end_of_word_suffix": null,
                "fuse_unk": false,
                "byte_fallback": false,
                "vocab": {
                  \(vocab.joined(separator: ",\n      "))
                },
                "merges": [
                  \(mergeLines.joined(separator: ",\n      "))
                ]
              }
            }

            """
    }

    private func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
