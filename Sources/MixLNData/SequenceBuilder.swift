/// Turns documents into fixed-length `TokenSequence`s.
///
/// Document mode (the official Mix-LN recipe): each document alone, as
/// `encode(text, addSpecialTokens: true)` — the tokenizer's own convention decides BOS/EOS (the
/// byte tokenizer and T5 append EOS, LLaMA prepends BOS) — (or its `input_ids` as they are), truncated to `seqLen` and right-padded;
/// `targets[t] = tokens[t+1]` while position `t+1` is a real token, so T inputs give at most
/// T−1 predictions (the Hugging Face shift). Documents of fewer than 2 tokens predict nothing and
/// are skipped.
///
/// Packing mode: all documents concatenated (text documents encoded the same way, then followed by
/// EOS when the tokenizer has one and the encoding does not already end with it, so GPT-2-style
/// tokenizers that add nothing still separate documents) and cut into
/// non-overlapping windows of `seqLen`; the last position of a window predicts the first token of
/// the next one, so every stream token but the first is predicted exactly once. A final partial
/// window is padded, or dropped when shorter than 2 tokens.
public enum SequenceBuilder {
    /// The sequences of `documents`, in document order.
    /// - Throws: `DataError.tokenOutOfVocabulary` when a `.tokens` document holds an id outside
    ///   `0..<options.vocabularySize` (by default the tokenizer's vocabulary); `.invalidOption`
    ///   when `seqLen < 2`.
    public static func build(_ documents: [Document], tokenizer: any Tokenizer,
                             options: SequenceOptions) throws -> [TokenSequence] {
        guard options.seqLen >= 2 else {
            throw DataError.invalidOption(name: "seq_len", value: "\(options.seqLen)", expected: "at least 2")
        }
        let ids = try documents.enumerated().map { index, document in
            try tokenIds(of: document, index: index, tokenizer: tokenizer, packing: options.packing,
                         idLimit: options.idLimit(for: tokenizer))
        }
        return options.packing
            ? packed(ids, tokenizer: tokenizer, options: options)
            : ids.compactMap { sequence(Array($0.prefix(options.seqLen)), next: nil, tokenizer: tokenizer, options: options) }
    }

    /// The ids of one document: `encode(text, addSpecialTokens: true)` (in packing mode ending
    /// with EOS when the tokenizer has one), or `input_ids` as they are, each checked to lie in
    /// `0..<idLimit` (default: the tokenizer's vocabulary).
    static func tokenIds(of document: Document, index: Int, tokenizer: any Tokenizer,
                         packing: Bool, idLimit: Int? = nil) throws -> [Int32] {
        switch document {
        case .text(let text):
            var ids = tokenizer.encode(text, addSpecialTokens: true)
            if packing, let eos = tokenizer.eosId, ids.last != eos { ids.append(eos) }
            return ids
        case .tokens(let ids):
            let limit = idLimit ?? tokenizer.vocabularySize
            let vocabulary = Int32(clamping: limit)
            if let position = ids.firstIndex(where: { $0 < 0 || $0 >= vocabulary }) {
                throw DataError.tokenOutOfVocabulary(
                    document: index, position: position, id: ids[position], vocabularySize: limit)
            }
            return ids
        }
    }

    static func packed(_ documents: [[Int32]], tokenizer: any Tokenizer, options: SequenceOptions) -> [TokenSequence] {
        let stream = Array(documents.joined())
        return stride(from: 0, to: stream.count, by: options.seqLen).compactMap { start in
            let end = min(start + options.seqLen, stream.count)
            let next = end < stream.count ? stream[end] : nil
            return sequence(Array(stream[start..<end]), next: next, tokenizer: tokenizer, options: options)
        }
    }

    /// One sequence from `real` (at most `seqLen`) ids; `next` is the target of the last position
    /// when the window is full and the stream goes on. Nil when `real` predicts nothing.
    static func sequence(_ real: [Int32], next: Int32?, tokenizer: any Tokenizer,
                         options: SequenceOptions) -> TokenSequence? {
        sequence(real, next: next, seqLen: options.seqLen, padId: options.padId(for: tokenizer),
                 ignoreIndex: options.ignoreIndex)
    }

    /// One sequence of `seqLen` from `real` (at most `seqLen`) ids, right-padded with `padId`; nil
    /// when `real` predicts nothing. Shared by the in-memory builder and `ShardSequences`.
    static func sequence(_ real: [Int32], next: Int32?, seqLen: Int, padId: Int32, ignoreIndex: Int32) -> TokenSequence? {
        guard real.count >= 2 else { return nil }
        let padding = seqLen - real.count
        let tokens = real + Array(repeating: padId, count: padding)
        let targets = real.dropFirst() + [next ?? ignoreIndex] + Array(repeating: ignoreIndex, count: padding)
        return TokenSequence(tokens: tokens, targets: targets)
    }
}
