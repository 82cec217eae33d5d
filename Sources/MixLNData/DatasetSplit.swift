/// Training and validation sequences built from one corpus.
public struct DatasetSplit: Equatable, Sendable {
    public var train: [TokenSequence]
    public var validation: [TokenSequence]

    public init(train: [TokenSequence], validation: [TokenSequence]) {
        self.train = train
        self.validation = validation
    }

    /// Splits `documents` by document (so no document straddles the two sets) with
    /// `DatasetSplitter`, then builds each part's sequences with `SequenceBuilder`.
    public init(documents: [Document], tokenizer: any Tokenizer, options: SequenceOptions,
                validationFraction: Double, seed: UInt64) throws {
        let parts = DatasetSplitter.split(documents, validationFraction: validationFraction, seed: seed)
        train = try SequenceBuilder.build(parts.train, tokenizer: tokenizer, options: options)
        validation = try SequenceBuilder.build(parts.validation, tokenizer: tokenizer, options: options)
    }
}
