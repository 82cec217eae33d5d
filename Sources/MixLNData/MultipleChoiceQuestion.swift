/// One multiple-choice question of a benchmark, as lm-evaluation-harness scores it: every choice is
/// a (context, continuation) pair whose continuation's log-likelihood given the context is summed.
///
/// The contexts are usually equal (ARC, HellaSwag); they differ where the harness scores the choices
/// inside the context and a shared ending as the continuation (WinoGrande's partial scoring).
public struct MultipleChoiceQuestion: Sendable, Equatable {
    /// One answer option.
    public struct Choice: Sendable, Equatable {
        /// The text the continuation is conditioned on.
        public var context: String
        /// The text whose log-likelihood is scored (with its leading delimiter, e.g. `" Paris"`).
        public var continuation: String
        /// The answer's length in characters (Unicode scalars, as Python's `len`): the divisor of
        /// `acc_norm`. The harness divides by the choice text without the target delimiter, which
        /// is the continuation without its leading whitespace.
        public var characters: Int
        /// 1-based line of the task file the choice comes from.
        public var line: Int

        public init(context: String, continuation: String, characters: Int? = nil, line: Int) {
            self.context = context
            self.continuation = continuation
            self.characters = characters ?? Self.answerLength(continuation)
            self.line = line
        }

        /// Unicode scalars of `continuation` after its leading whitespace (Python's `str.isspace`).
        public static func answerLength(_ continuation: String) -> Int {
            continuation.unicodeScalars.drop(while: LoglikelihoodEncoder.isPythonWhitespace).count
        }
    }

    /// The question's id: the request layout's `doc_id`, else `doc_id` or the 0-based question
    /// number of a simple-layout file.
    public var docID: Int
    public var choices: [Choice]
    /// Index of the correct choice.
    public var gold: Int
    /// 1-based line the question starts on.
    public var line: Int

    public init(docID: Int, choices: [Choice], gold: Int, line: Int) {
        self.docID = docID
        self.choices = choices
        self.gold = gold
        self.line = line
    }
}

/// The questions of one task file.
public struct MultipleChoiceTask: Sendable {
    /// The file read.
    public var path: String
    /// The records' `task_name`, else the file's name without its extensions.
    public var name: String
    public var questions: [MultipleChoiceQuestion]
    /// Request lines with `doc_id ≥ 1000000` (OLMES's unconditional-calibration requests), skipped.
    public var skippedUnconditional: Int

    public init(path: String, name: String, questions: [MultipleChoiceQuestion], skippedUnconditional: Int = 0) {
        self.path = path
        self.name = name
        self.questions = questions
        self.skippedUnconditional = skippedUnconditional
    }
}
