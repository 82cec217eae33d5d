/// Supervised fine-tuning sequences: a rendered conversation as input ids whose targets are the
/// reply tokens only (the loss never covers the prompt).
public enum SupervisedSequence {
    /// The ids of `conversation` under `template`, with which of them are reply tokens: the tokens
    /// the tokenizer puts in front of a text (LLaMA's BOS), then each segment encoded on its own
    /// without special tokens (so a reply's first token never merges with the prompt's last),
    /// each reply followed by EOS when the template says so.
    public static func ids(_ conversation: Conversation, template: ChatTemplate, tokenizer: any Tokenizer) -> (ids: [Int32], isReply: [Bool]) {
        var ids = tokenizer.leadingSpecialTokens()
        var isReply = [Bool](repeating: false, count: ids.count)
        for segment in template.segments(conversation) {
            var piece = tokenizer.encode(segment.text, addSpecialTokens: false)
            if segment.isReply, template.endsRepliesWithEOS, let eos = tokenizer.eosId { piece.append(eos) }
            ids += piece
            isReply += Array(repeating: segment.isReply, count: piece.count)
        }
        return (ids, isReply)
    }

    /// The training sequence of `conversation`: cut to `options.seqLen` (the ids past it dropped),
    /// right-padded; `targets[p]` is the next id where that id is a reply token, else ignored.
    /// Nil when no reply token is left to predict after the cut.
    public static func build(_ conversation: Conversation, template: ChatTemplate, tokenizer: any Tokenizer,
                             options: SequenceOptions) -> TokenSequence? {
        let (ids, isReply) = self.ids(conversation, template: template, tokenizer: tokenizer)
        return sequence(ids: ids, isReply: isReply, tokenizer: tokenizer, options: options)
    }

    /// `ids` as a training sequence: cut to `options.seqLen` (the ids past it dropped), right-padded
    /// with the tokenizer's pad id; `targets[p]` is `ids[p + 1]` where `isReply[p + 1]`, else ignored. Nil when no
    /// reply token is left to predict after the cut.
    /// - Parameters: ids (n), isReply (n)
    static func sequence(ids: [Int32], isReply: [Bool], tokenizer: any Tokenizer, options: SequenceOptions) -> TokenSequence? {
        let T = options.seqLen, kept = min(ids.count, T + 1)
        var tokens = [Int32](repeating: options.padId(for: tokenizer), count: T)  // (T)
        var targets = [Int32](repeating: options.ignoreIndex, count: T)           // (T)
        for p in 0..<min(ids.count, T) { tokens[p] = ids[p] }
        for p in 0..<max(kept - 1, 0) where isReply[p + 1] { targets[p] = ids[p + 1] }
        let sequence = TokenSequence(tokens: tokens, targets: targets)
        return sequence.predictedTokenCount(ignoreIndex: options.ignoreIndex) > 0 ? sequence : nil
    }
}
