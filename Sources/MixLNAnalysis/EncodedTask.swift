import MixLNData

/// One answer option as token ids, ready to score.
public struct EncodedChoice: Sendable, Equatable {
    /// Context then continuation, cut from the left to the model's window + 1 as the harness does
    /// (`(context + continuation)[-(max_length + 1):]`); the model reads all but the last id.
    public var tokens: [Int32]
    /// How many of the last `tokens` are the continuation, whose log-probabilities are summed.
    public var continuationCount: Int
    /// The answer's length in characters, the divisor of `acc_norm`.
    public var characters: Int
    /// Whether context ids were cut to fit the window.
    public var truncated: Bool

    public init(tokens: [Int32], continuationCount: Int, characters: Int, truncated: Bool = false) {
        self.tokens = tokens
        self.continuationCount = continuationCount
        self.characters = characters
        self.truncated = truncated
    }
}

/// A multiple-choice question as token ids.
public struct EncodedQuestion: Sendable {
    public var docID: Int
    public var gold: Int
    public var choices: [EncodedChoice]

    public init(docID: Int, gold: Int, choices: [EncodedChoice]) {
        self.docID = docID
        self.gold = gold
        self.choices = choices
    }
}

/// A task file's questions as token ids, for a model whose window is `window` tokens.
public struct EncodedTask: Sendable {
    public var name: String
    public var path: String
    public var questions: [EncodedQuestion]

    /// Encodes every choice of `task` with `encoder` (lm-evaluation-harness's split of context and
    /// continuation) and cuts it to `window + 1` ids.
    /// - Throws: `AnalysisError.invalid` naming the file and line of a continuation longer than the
    ///   window, or of an empty context when the tokenizer has no BOS or EOS to stand for it.
    public init(_ task: MultipleChoiceTask, encoder: LoglikelihoodEncoder, window: Int) throws {
        name = task.name
        path = task.path
        questions = try task.questions.map { question in
            EncodedQuestion(docID: question.docID, gold: question.gold, choices: try question.choices.map { choice in
                let ids: (context: [Int32], continuation: [Int32])
                do {
                    ids = try encoder.encode(context: choice.context, continuation: choice.continuation)
                } catch LoglikelihoodEncoder.Failure.noTokenForEmptyContext {
                    throw AnalysisError.invalid("\(task.path):\(choice.line): the context is empty and the tokenizer has no BOS or EOS token to stand for it")
                }
                guard ids.continuation.count <= window else {
                    throw AnalysisError.invalid("\(task.path):\(choice.line): the continuation is \(ids.continuation.count) tokens, more than the model's window of \(window): it cannot be scored (a tokenizer with longer tokens, or a model with a longer max_sequence_length, can)")
                }
                let whole = ids.context + ids.continuation
                return EncodedChoice(tokens: Array(whole.suffix(window + 1)), continuationCount: ids.continuation.count,
                                     characters: choice.characters, truncated: whole.count > window + 1)
            })
        }
    }

    /// Choices whose context was cut to fit the window.
    public var truncatedChoices: Int { questions.reduce(0) { $0 + $1.choices.filter(\.truncated).count } }
}
