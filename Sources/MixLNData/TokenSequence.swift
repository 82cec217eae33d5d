/// One training sequence: input ids and the id each position should predict.
public struct TokenSequence: Codable, Equatable, Sendable {
    /// Input ids, right-padded with the tokenizer's pad id.
    public var tokens: [Int32] // (T)
    /// Next-token ids; `ignoreIndex` where there is nothing to predict (padding, the end).
    public var targets: [Int32] // (T)

    public init(tokens: [Int32], targets: [Int32]) {
        precondition(tokens.count == targets.count, "tokens and targets must have the same length")
        self.tokens = tokens
        self.targets = targets
    }

    /// Positions holding real tokens: up to one past the last counted target (1 when none is
    /// counted). Padding lies beyond; the positions in between are real even if ignored.
    public func realLength(ignoreIndex: Int32 = -100) -> Int {
        Self.realLength(targets[...], ignoreIndex: ignoreIndex)
    }

    /// `realLength` of one row of targets.
    static func realLength(_ targets: ArraySlice<Int32>, ignoreIndex: Int32) -> Int {
        guard let last = targets.lastIndex(where: { $0 != ignoreIndex }) else { return 1 }
        return min(targets.count, last - targets.startIndex + 2)
    }

    /// Number of positions whose target is not `ignoreIndex`.
    public func predictedTokenCount(ignoreIndex: Int32 = -100) -> Int {
        targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    }
}
