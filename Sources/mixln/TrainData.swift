import Foundation
import MixLNData

/// The tokenizer a shard directory was prepared with, as a `--tokenizer` argument: the copy
/// `prepare` stored beside the manifest, or `byte` for byte shards (which need no file).
/// - Throws: for a folder prepared before shards kept their tokenizer with another tokenizer,
///   asking for it with `--tokenizer`.
func shardTokenizer(_ data: String) throws -> String {
    let manifest = try ShardManifest.read(directory: data)
    if let path = manifest.tokenizerPath(in: data) { return path }
    if manifest.tokenizerFingerprint == ByteTokenizer().fingerprint { return "byte" }
    throw CLIError("\(data): the shards were made with tokenizer '\(manifest.tokenizer)' and carry no copy of it (prepared by an older mixln); pass that tokenizer with --tokenizer")
}

/// Opens a `mixln prepare` shard directory for a model and tokenizer, refusing shards that do not
/// fit: a vocabulary larger than the model's, or another tokenizer's fingerprint.
/// - Parameters:
///   - given: the `--tokenizer` the user passed, nil when `tokenizer` is a default (`source` names it).
///   - source: how a default tokenizer was chosen, for the message ("the checkpoint's tokenizer").
func openShards(_ data: String, tokenizer: any Tokenizer, given: String?, source: String = "the tokenizer",
                modelVocabulary: Int) throws -> ShardDataset {
    let manifest = try ShardManifest.read(directory: data)
    guard manifest.vocabSize <= modelVocabulary else {
        throw CLIError("\(data): the shards hold ids of a \(manifest.vocabSize)-id vocabulary but the model's vocab_size is \(modelVocabulary); use a model with at least \(manifest.vocabSize) ids")
    }
    let fingerprint = tokenizer.fingerprint
    guard manifest.tokenizerFingerprint == fingerprint else {
        let advice = manifest.tokenizerPath(in: data).map {
            "the shards carry their own tokenizer (\($0)): " + (given == nil ? "pass that one with --tokenizer" : "drop --tokenizer, or pass that one")
        } ?? "pass the tokenizer they were made with, or prepare them again with this one"
        let chosen = given.map { "--tokenizer \($0)" } ?? "\(source) \(tokenizer.name)"
        throw CLIError("\(data): the shards were made with tokenizer '\(manifest.tokenizer)' (fingerprint \(manifest.tokenizerFingerprint)) but \(chosen) has fingerprint \(fingerprint); \(advice)")
    }
    return try ShardDataset(directory: data)
}

/// Refuses text documents when the tokenizer has more ids than the model: its ids would not all
/// fit. Already-tokenized documents need no tokenizer; their ids are checked against the model's
/// vocabulary one by one (`SequenceOptions.vocabularySize`).
func checkTokenizerFits(_ tokenizer: any Tokenizer, documents: [Document], modelVocabulary: Int, advice: String = "") throws {
    let hasText = documents.contains { if case .text = $0 { return true } else { return false } }
    guard !hasText || tokenizer.vocabularySize <= modelVocabulary else {
        throw CLIError("the tokenizer has \(tokenizer.vocabularySize) ids but the model's vocab_size is \(modelVocabulary)\(advice)")
    }
}

extension TrainCommand {
    /// The tokenizer to train with: `--tokenizer` as given, else the one a shard directory
    /// `--data` carries, else `byte`.
    func resolvedTokenizer() throws -> String {
        if let tokenizer { return tokenizer }
        if let data, ShardManifest.isShardDirectory(data) { return try shardTokenizer(data) }
        return Defaults.tokenizer
    }
}

extension RunRecord {
    /// Training and validation sequences of the run's data: a prepared shard directory (its own
    /// train/validation split, memory-mapped) or a corpus read and split here. Pre-tokenized ids
    /// are bounded by the model's vocabulary, not the tokenizer's.
    func loadSplit(using tokenizer: any Tokenizer) throws -> DatasetSplit {
        guard ShardManifest.isShardDirectory(data) else {
            let documents = try CorpusReader.readDocuments(at: data)
            try checkTokenizerFits(tokenizer, documents: documents, modelVocabulary: config.vocabSize,
                                   advice: "; use --vocab-size \(tokenizer.vocabularySize) or a larger model vocabulary")
            return try DatasetSplit(documents: documents, tokenizer: tokenizer, options: sequenceOptions,
                                    validationFraction: validationFraction, seed: training.seed)
        }
        return try openShards(data, tokenizer: tokenizer, given: self.tokenizer, modelVocabulary: config.vocabSize)
            .split(tokenizer: tokenizer, options: sequenceOptions)
    }
}
