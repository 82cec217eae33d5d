/// Token ids of a (context, continuation) pair exactly as lm-evaluation-harness's `loglikelihood`
/// makes them for a causal model (`_encode_pair`):
///
/// 1. whitespace at the end of the context moves to the start of the continuation;
/// 2. `whole = encode(context + continuation)`, `contextIDs = encode(context)`, and the continuation
///    is `whole[contextIDs.count...]` — so a token spanning the boundary counts as the continuation's;
/// 3. no special tokens, except the ones the tokenizer puts *before* a text (LLaMA's BOS), which
///    both encodings start with (the harness's `add_bos_token`); appended ones (T5's `</s>`, the
///    byte tokenizer's EOS) would land inside the sequence and are left out;
/// 4. an empty context becomes one token: BOS, else EOS (the harness's `prefix_token_id`); when the
///    continuation itself starts with that token, that token is the context.
public struct LoglikelihoodEncoder {
    public let tokenizer: any Tokenizer
    /// The ids the tokenizer puts before every text when it adds special tokens (LLaMA: `[bos]`).
    public let prefix: [Int32]
    /// What an empty context becomes: BOS, else EOS; nil when the tokenizer has neither.
    public let emptyContextToken: Int32?

    public init(tokenizer: any Tokenizer) {
        self.tokenizer = tokenizer
        prefix = tokenizer.leadingSpecialTokens()
        emptyContextToken = tokenizer.bosId ?? tokenizer.eosId
    }

    /// The problem with a pair that cannot be encoded.
    public enum Failure: Error, Equatable {
        /// The context is empty and the tokenizer has no BOS or EOS to stand for it.
        case noTokenForEmptyContext
    }

    /// (context ids, continuation ids) of the pair.
    public func encode(context: String, continuation: String) throws -> (context: [Int32], continuation: [Int32]) {
        if context.isEmpty {
            let ids = tokenizer.encode(continuation, addSpecialTokens: false)
            guard let token = emptyContextToken else { throw Failure.noTokenForEmptyContext }
            if let first = ids.first, first == token { return ([first], Array(ids.dropFirst())) }
            return ([token], ids)
        }
        let (head, tail) = Self.movingTrailingWhitespace(context: context, continuation: continuation)
        let whole = prefix + tokenizer.encode(head + tail, addSpecialTokens: false)
        let contextIDs = prefix + tokenizer.encode(head, addSpecialTokens: false)
        return (contextIDs, Array(whole.dropFirst(contextIDs.count)))
    }

    /// `(context.rstrip(), trailing whitespace + continuation)` as the harness splits them.
    public static func movingTrailingWhitespace(context: String, continuation: String) -> (String, String) {
        let scalars = context.unicodeScalars
        var end = scalars.endIndex
        while end > scalars.startIndex, isPythonWhitespace(scalars[scalars.index(before: end)]) {
            end = scalars.index(before: end)
        }
        guard end < scalars.endIndex else { return (context, continuation) }
        return (String(scalars[..<end]), String(scalars[end...]) + continuation)
    }

    /// Whether Python's `str.isspace` (and so `str.rstrip()`) counts `scalar` as whitespace: the
    /// Unicode White_Space characters plus the separators U+001C…U+001F.
    public static func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
    }
}
