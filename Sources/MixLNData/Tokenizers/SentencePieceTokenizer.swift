import Foundation

/// A SentencePiece `.model` file (unigram, or BPE with optional byte fallback), encoded as the
/// `sentencepiece` library does by default.
///
/// Encoding: normalization (the precompiled character map when the model has one, with
/// user-defined pieces matched first and left as they are; removal of leading, trailing and
/// repeated spaces; the dummy-prefix space; spaces escaped as `▁`), then Viterbi segmentation
/// (unigram; unknown characters cost the lowest piece score minus 10, consecutive unknowns merge)
/// or repeated merging of the best-scoring adjacent pair (BPE). With byte fallback an unknown
/// span becomes its UTF-8 bytes as `<0xXX>` pieces.
///
/// Special tokens: plain `sentencepiece` adds none, and a `.model` does not say whether it belongs
/// to a T5- or a LLaMA-style model, so `encode(_:addSpecialTokens: true)` follows what Hugging
/// Face's tokenizers for the two families add by default: **unigram models append EOS** (T5's
/// `</s>`), **BPE models prepend BOS** (LLaMA's `<s>`), each only when the model defines that id.
/// `addSpecialTokens: false` gives exactly `sentencepiece`'s `encode`.
///
/// Not covered: sampling / n-best, `treat_whitespace_as_suffix` decoding details, splitting of
/// UNUSED pieces back into their parts in BPE (they become unknown), and the normalization rule
/// TSV (only the compiled charsmap is read).
public struct SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
    public enum Algorithm: String, Sendable { case unigram, bpe }

    public let algorithm: Algorithm
    public let vocabularySize: Int
    public let padId: Int32
    public let eosId: Int32?
    public let bosId: Int32?
    public let unkId: Int32?
    public let name: String
    public let fingerprint: String

    private let model: SentencePieceModel
    private let pieceTrie: PieceTrie
    private let userDefinedTrie: PieceTrie?
    private let charsMap: PrecompiledCharsMap?
    private let lattice: UnigramLattice<Float>
    private let byteIds: [Int32]? // (256) id of each <0xXX> piece, when byte fallback is on
    private let byteValue: [Int16] // per id: the byte a BYTE piece stands for, else -1
    private let pieceScores: [Float] // per id, for BPE merges
    private let isUnused: [Bool]    // per id
    private let addsBOS: Bool       // encode(_:addSpecialTokens: true) prepends bosId
    private let addsEOS: Bool       // … and appends eosId

    /// Loads the `.model` file at `path`.
    /// - Throws: `DataError.noSuchFile` / `.unreadable`, or a `TokenizerError` naming the problem.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw DataError.noSuchFile(path) }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw DataError.unreadable(path: path, reason: "could not read the file")
        }
        try self.init(data: data, path: path)
    }

    /// Decodes a serialized `ModelProto`; `path` only names it in errors and `name`.
    public init(data: Data, path: String = "<data>") throws {
        let bytes = [UInt8](data)
        try self.init(model: SentencePieceModel(bytes: bytes, path: path), path: path, fingerprint: fnv1a64Hex(bytes))
    }

    /// A tokenizer over `model` (read from a `.model` file, or built from a GGUF file's vocabulary);
    /// `addsBOS` / `addsEOS` override the family convention of `encode(_:addSpecialTokens: true)`
    /// (unigram appends EOS, BPE prepends BOS) where the source says what to add.
    init(model: SentencePieceModel, path: String, fingerprint: String, addsBOS: Bool? = nil, addsEOS: Bool? = nil) throws {
        self.model = model
        let count = model.pieces.count
        func validId(_ id: Int32, _ field: String) throws -> Int32? {
            guard id >= 0 else { return nil }
            guard id < count else {
                throw TokenizerError.malformed(path: path, reason: "trainer_spec.\(field) = \(id) is outside the \(count) pieces")
            }
            return id
        }
        algorithm = model.modelType == .bpe ? .bpe : .unigram
        vocabularySize = count
        unkId = try validId(model.unkId, "unk_id")
        bosId = try validId(model.bosId, "bos_id")
        eosId = try validId(model.eosId, "eos_id")
        guard let unk = unkId, model.pieces[Int(unk)].type == .unknown else {
            throw TokenizerError.malformed(path: path, reason: "trainer_spec.unk_id = \(model.unkId) is not an UNKNOWN piece")
        }
        // A padding id must exist for right-padding; LLaMA-style models have none (pad_id = -1),
        // so unknown stands in (it is never predicted at padded positions either way).
        padId = try validId(model.padId, "pad_id") ?? unk
        name = "sentencepiece-\(algorithm.rawValue):" + (path as NSString).lastPathComponent
        self.fingerprint = fingerprint
        self.addsBOS = addsBOS ?? (algorithm == .bpe)
        self.addsEOS = addsEOS ?? (algorithm == .unigram)

        var lookup: [([UInt8], Int32)] = []
        var userDefined: [([UInt8], Int32)] = []
        var maxScore = -Float.greatestFiniteMagnitude, minScore = Float.greatestFiniteMagnitude
        for piece in model.pieces where piece.type == .normal {
            maxScore = max(maxScore, piece.score)
            minScore = min(minScore, piece.score)
        }
        var scores = [Float?](repeating: nil, count: count)
        var byteIds = [Int32](repeating: -1, count: 256)
        var byteValue = [Int16](repeating: -1, count: count)
        for (id, piece) in model.pieces.enumerated() {
            let utf8 = Array(piece.text.utf8)
            switch piece.type {
            case .normal:
                lookup.append((utf8, Int32(id)))
                scores[id] = piece.score
            case .userDefined:
                lookup.append((utf8, Int32(id)))
                userDefined.append((utf8, Int32(id)))
                // Always preferred in the lattice, as sentencepiece does.
                scores[id] = Float(utf8.count) * maxScore - 0.1
            case .unused:
                lookup.append((utf8, Int32(id)))
            case .byte:
                guard let byte = byteOfPieceName(piece.text) else {
                    throw TokenizerError.malformed(path: path, reason: "BYTE piece \(id) '\(piece.text)' is not of the form <0xXX>")
                }
                byteIds[Int(byte)] = Int32(id)
                byteValue[id] = Int16(byte)
            case .unknown, .control:
                break
            }
        }
        if model.byteFallback {
            guard !byteIds.contains(-1) else {
                throw TokenizerError.malformed(path: path, reason: "byte_fallback is on but not all 256 <0xXX> pieces are present")
            }
            self.byteIds = byteIds
        } else {
            self.byteIds = nil
        }
        self.byteValue = byteValue
        pieceScores = model.pieces.map(\.score)
        isUnused = model.pieces.map { $0.type == .unused }
        pieceTrie = PieceTrie(lookup)
        userDefinedTrie = userDefined.isEmpty ? nil : PieceTrie(userDefined)
        charsMap = model.precompiledCharsMap.isEmpty ? nil : try PrecompiledCharsMap(bytes: model.precompiledCharsMap, path: path)
        lattice = UnigramLattice(trie: pieceTrie, scores: scores, unkId: unk, unkScore: minScore - 10)
    }

    // MARK: Encoding

    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int32] {
        let normalized = normalize(text)
        var ids = normalized.withUnsafeBufferPointer { buffer -> [Int32] in
            let segments = algorithm == .unigram ? lattice.segment(buffer) : bpeSegments(buffer)
            return pieceIds(segments, buffer)
        }
        if addSpecialTokens {
            if addsBOS, let bos = bosId { ids.insert(bos, at: 0) }
            if addsEOS, let eos = eosId { ids.append(eos) }
        }
        return ids
    }

    /// The pieces of `text` as strings (`▁` for spaces), after the same encoding.
    public func encodeAsPieces(_ text: String) -> [String] {
        encode(text, addSpecialTokens: false).map { model.pieces[Int($0)].text }
    }

    /// sentencepiece's `Normalizer::Normalize`: the normalized UTF-8 bytes.
    func normalize(_ text: String) -> [UInt8] {
        let space: [UInt8] = model.escapeWhitespaces ? Array("\u{2581}".utf8) : [0x20]
        let input = Array(text.utf8)
        return input.withUnsafeBufferPointer { buffer -> [UInt8] in
            let n = buffer.count
            var output: [UInt8] = []
            output.reserveCapacity(n + 8)
            // One normalization step at `position`: (replacement, bytes consumed).
            func prefix(_ position: Int) -> (ArraySlice<UInt8>, Int) {
                if let trie = userDefinedTrie {
                    var longest = 0
                    trie.commonPrefixSearch(buffer, from: position, to: n) { length, _ in longest = length }
                    if longest > 0 { return (ArraySlice(buffer[position..<(position + longest)]), longest) }
                }
                if let map = charsMap, let (length, replacement) = map.longestMatch(buffer, from: position, to: n) {
                    return (replacement, length)
                }
                let length = min(n - position, utf8Length(buffer[position]))
                return (ArraySlice(buffer[position..<(position + length)]), length)
            }
            let removeExtra = model.removeExtraWhitespaces
            var position = 0
            if removeExtra && !model.treatWhitespaceAsSuffix {
                while position < n {
                    let (replacement, consumed) = prefix(position)
                    guard replacement.elementsEqual([0x20]) else { break }
                    position += consumed
                }
            }
            guard position < n else { return [] }
            if model.addDummyPrefix && !model.treatWhitespaceAsSuffix { output += space }
            var previousIsSpace = removeExtra
            while position < n {
                var (replacement, consumed) = prefix(position)
                if previousIsSpace && removeExtra {
                    while replacement.first == 0x20 { replacement = replacement.dropFirst() }
                }
                if !replacement.isEmpty {
                    for byte in replacement {
                        if byte == 0x20 && model.escapeWhitespaces { output += space } else { output.append(byte) }
                    }
                    previousIsSpace = replacement.last == 0x20
                }
                position += consumed
            }
            if model.addDummyPrefix && model.treatWhitespaceAsSuffix { output += space }
            if removeExtra {
                while output.count >= space.count && output.suffix(space.count).elementsEqual(space) {
                    output.removeLast(space.count)
                }
            }
            return output
        }
    }

    /// BPE over the characters of `text` (user-defined pieces are single, frozen symbols).
    private func bpeSegments(_ text: UnsafeBufferPointer<UInt8>) -> [Segment] {
        let n = text.count
        var ranges: [Range<Int>] = []
        var frozen: [Bool] = []
        var position = 0
        while position < n {
            var length = 0
            if let trie = userDefinedTrie {
                trie.commonPrefixSearch(text, from: position, to: n) { l, _ in length = l }
            }
            frozen.append(length > 0)
            if length == 0 { length = min(n - position, utf8Length(text[position])) }
            ranges.append(position..<(position + length))
            position += length
        }
        var symbols = SymbolList(ranges: ranges, ids: ranges.map { pieceTrie.id(text, $0) ?? -1 })

        struct Candidate: Comparable {
            var negativeScore: Float, left: Int, right: Int, size: Int, id: Int32
            static func < (a: Candidate, b: Candidate) -> Bool {
                a.negativeScore != b.negativeScore ? a.negativeScore < b.negativeScore : a.left < b.left
            }
        }
        var agenda = MinHeap<Candidate>()
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0, !frozen[left], !frozen[right] else { return }
            let range = symbols.starts[left]..<symbols.ends[right]
            guard let id = pieceTrie.id(text, range) else { return }
            agenda.push(Candidate(negativeScore: -pieceScores[Int(id)], left: left, right: right,
                                  size: range.count, id: id))
        }
        for i in 1..<max(1, ranges.count) { consider(i - 1, i) }
        while let top = agenda.pop() {
            guard symbols.isLive(top.left), symbols.isLive(top.right),
                  symbols.ends[top.left] - symbols.starts[top.left] + symbols.ends[top.right] - symbols.starts[top.right] == top.size
            else { continue }
            symbols.merge(top.left, top.right, id: top.id)
            consider(symbols.prev[top.left], top.left)
            consider(top.left, symbols.next[top.left])
        }
        let unk = unkId ?? 0
        return symbols.segments.map { segment in
            let usable = segment.id >= 0 && !isUnused[Int(segment.id)]
            return Segment(range: segment.range, id: usable ? segment.id : unk)
        }
    }

    /// The processor's last step: byte fallback for unknown spans, or consecutive unknowns merged.
    private func pieceIds(_ segments: [Segment], _ text: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(segments.count)
        var previousIsUnknown = false
        for segment in segments {
            let isUnknown = segment.id == unkId
            if isUnknown, let byteIds {
                for i in segment.range { ids.append(byteIds[Int(text[i])]) }
                previousIsUnknown = false
                continue
            }
            if isUnknown && previousIsUnknown { continue }
            ids.append(segment.id)
            previousIsUnknown = isUnknown
        }
        return ids
    }

    // MARK: Decoding

    /// The text of `ids` as `sentencepiece` decodes it: `▁` becomes a space, the dummy-prefix
    /// space of the first piece is dropped, byte pieces are reassembled into UTF-8 (invalid
    /// sequences become U+FFFD), control pieces vanish and unknown ones read ` ⁇ `. Ids outside
    /// the vocabulary are skipped.
    public func decode(_ ids: [Int32]) -> String {
        var text = ""
        var pendingBytes: [UInt8] = []
        var atStart = true
        let stripsLeadingSpace = model.addDummyPrefix || model.removeExtraWhitespaces
        func flushBytes() {
            guard !pendingBytes.isEmpty else { return }
            text += String(decoding: pendingBytes, as: UTF8.self)
            pendingBytes.removeAll()
            atStart = false
        }
        for id in ids where id >= 0 && Int(id) < vocabularySize {
            let piece = model.pieces[Int(id)]
            if byteValue[Int(id)] >= 0 {
                pendingBytes.append(UInt8(byteValue[Int(id)]))
                continue
            }
            flushBytes()
            switch piece.type {
            case .control:
                continue
            case .unknown:
                text += model.unkSurface
                atStart = false
            default:
                var surface = piece.text
                var consumedSpace = false
                if atStart && stripsLeadingSpace && surface.bytesHavePrefix("\u{2581}") {
                    surface = surface.droppingFirstScalar()
                    consumedSpace = !model.removeExtraWhitespaces
                }
                let decoded = surface.bytesReplacing("\u{2581}", with: " ")
                text += decoded
                if !decoded.isEmpty || consumedSpace { atStart = false }
            }
        }
        flushBytes()
        return text
    }
}
