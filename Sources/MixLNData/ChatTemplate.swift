/// How a conversation becomes text for supervised fine-tuning (`mixln sft --template`): a list of
/// segments, each either context (encoded, attended to, never a target) or a reply (the targets).
///
/// - `alpaca`: Stanford Alpaca's prompt — a system line (the record's, else Alpaca's default),
///   then `### Instruction:\n<user>\n\n### Response:\n<reply>`, turns separated by a blank line;
///   each reply ends with the tokenizer's EOS.
/// - `chatml`: `<|im_start|>role\n<content><|im_end|>\n` per turn, the assistant's opened in the
///   context and its `<content><|im_end|>` the reply (the stop marker is learnt, no EOS).
/// - `plain`: the system text and a blank line, then `<user>\n<reply>` per turn (a newline between
///   turns); each reply ends with EOS.
public enum ChatTemplate: String, CaseIterable, Sendable {
    case alpaca, chatml, plain

    /// Alpaca's system line when a record brings none.
    public static let alpacaSystem = "Below is an instruction that describes a task. Write a response that appropriately completes the request."

    /// One piece of a rendered conversation.
    public struct Segment: Equatable, Sendable {
        public var text: String
        /// Whether the segment is a reply: its tokens are targets of the loss.
        public var isReply: Bool
    }

    /// Whether each reply is followed by the tokenizer's EOS (a trained token).
    public var endsRepliesWithEOS: Bool { self != .chatml }

    /// `conversation` rendered as context and reply segments, in order.
    public func segments(_ conversation: Conversation) -> [Segment] {
        var out: [Segment] = []
        func context(_ text: String) {
            if let last = out.last, !last.isReply { out[out.count - 1].text += text } else { out.append(Segment(text: text, isReply: false)) }
        }
        let turns = conversation.turns
        switch self {
        case .alpaca:
            let system = turns.first(where: { $0.role == .system })?.content ?? Self.alpacaSystem
            context(system + "\n\n")
            for turn in turns where turn.role != .system {
                switch turn.role {
                case .user: context("### Instruction:\n\(turn.content)\n\n### Response:\n")
                case .assistant:
                    out.append(Segment(text: turn.content, isReply: true))
                    context("\n\n")
                case .system: break
                }
            }
        case .chatml:
            for turn in turns {
                switch turn.role {
                case .system, .user: context("<|im_start|>\(turn.role.rawValue)\n\(turn.content)<|im_end|>\n")
                case .assistant:
                    context("<|im_start|>assistant\n")
                    out.append(Segment(text: turn.content + "<|im_end|>", isReply: true))
                    context("\n")
                }
            }
        case .plain:
            for turn in turns {
                switch turn.role {
                case .system: context(turn.content + "\n\n")
                case .user: context(turn.content + "\n")
                case .assistant:
                    out.append(Segment(text: turn.content, isReply: true))
                    context("\n")
                }
            }
        }
        if let last = out.last, !last.isReply { out.removeLast() }  // nothing after the last reply is trained or needed
        return out
    }
}
