/// One preference example for DPO: a prompt conversation and two replies to it, the preferred
/// (`chosen`) and the dispreferred (`rejected`).
public struct PreferencePair: Sendable, Equatable {
    /// The turns before the reply (system, user, and any earlier exchanges); ends with a user turn.
    public var prompt: [Conversation.Turn]
    public var chosen: String
    public var rejected: String
    /// 1-based line of the record in its file (where a JSON array element starts).
    public var line: Int

    public init(prompt: [Conversation.Turn], chosen: String, rejected: String, line: Int) {
        self.prompt = prompt
        self.chosen = chosen
        self.rejected = rejected
        self.line = line
    }

    /// The prompt completed by `reply`: what `sft` would train on.
    public func conversation(reply: String) -> Conversation {
        Conversation(turns: prompt + [.init(.assistant, reply)], line: line)
    }

    /// The chosen and the rejected sequence, rendered as `sft` renders the prompt completed by each
    /// reply (`SupervisedSequence`), except that only the final reply (and its EOS / `<|im_end|>`) is a
    /// target: earlier assistant turns of the prompt are context. Nil when the cut to
    /// `options.seqLen` leaves either reply without a target, or leaves the two sequences identical
    /// (their replies differ only past the cut), which carries no preference.
    public func sequences(template: ChatTemplate, tokenizer: any Tokenizer,
                          options: SequenceOptions) -> (chosen: TokenSequence, rejected: TokenSequence)? {
        func sequence(_ reply: String) -> TokenSequence? {
            var (ids, isReply) = SupervisedSequence.ids(conversation(reply: reply), template: template, tokenizer: tokenizer)
            // The final reply is the trailing run of reply tokens (segments end with it; context separates replies).
            let start = (isReply.lastIndex(of: false) ?? -1) + 1
            for p in 0..<start { isReply[p] = false }
            return SupervisedSequence.sequence(ids: ids, isReply: isReply, tokenizer: tokenizer, options: options)
        }
        guard let chosen = sequence(self.chosen), let rejected = sequence(self.rejected), chosen != rejected else { return nil }
        return (chosen, rejected)
    }
}
