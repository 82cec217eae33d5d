extension Tokenizer {
    /// The ids special-token encoding puts in front of every text (LLaMA: `[bos]`; GPT-2, T5 and
    /// the byte tokenizer: none — T5 and the byte tokenizer append theirs instead). Found by
    /// encoding a probe with and without special tokens and locating the plain ids in the other.
    public func leadingSpecialTokens() -> [Int32] {
        let probe = "Answer: the probe text"
        let plain = encode(probe, addSpecialTokens: false)
        let special = encode(probe, addSpecialTokens: true)
        guard !plain.isEmpty, special.count >= plain.count else { return [] }
        for start in 0...(special.count - plain.count) where Array(special[start..<(start + plain.count)]) == plain {
            return Array(special[..<start])
        }
        return []
    }
}
