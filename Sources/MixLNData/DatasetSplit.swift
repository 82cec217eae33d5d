/// Training and validation sequences of one corpus: built in memory from documents, or read from
/// token shards as they are needed (`ShardDataset.split`).
public struct DatasetSplit: Sendable {
    public var train: any SequenceSource
    public var validation: any SequenceSource

    public init(train: any SequenceSource, validation: any SequenceSource) {
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
