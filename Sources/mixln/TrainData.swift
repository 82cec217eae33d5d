import Foundation
import MixLNData

/// Opens a `mixln prepare` shard directory for a model and tokenizer, refusing shards that do not
/// fit: a vocabulary larger than the model's, or another tokenizer's fingerprint.
func openShards(_ data: String, tokenizer: any Tokenizer, tokenizerSpec: String, modelVocabulary: Int) throws -> ShardDataset {
    let manifest = try ShardManifest.read(directory: data)
    guard manifest.vocabSize <= modelVocabulary else {
        throw CLIError("\(data): the shards hold ids of a \(manifest.vocabSize)-id vocabulary but the model's vocab_size is \(modelVocabulary); use a model with at least \(manifest.vocabSize) ids")
    }
    let fingerprint = tokenizer.fingerprint
    guard manifest.tokenizerFingerprint == fingerprint else {
        throw CLIError("\(data): the shards were made with tokenizer '\(manifest.tokenizer)' (fingerprint \(manifest.tokenizerFingerprint)) but --tokenizer \(tokenizerSpec) has fingerprint \(fingerprint); prepare them again with this tokenizer")
    }
    return try ShardDataset(directory: data)
}

extension RunRecord {
    /// Training and validation sequences of the run's data: a prepared shard directory (its own
    /// train/validation split, memory-mapped) or a corpus read and split here.
    func loadSplit(using tokenizer: any Tokenizer) throws -> DatasetSplit {
        guard ShardManifest.isShardDirectory(data) else {
            let documents = try CorpusReader.readDocuments(at: data)
            return try DatasetSplit(documents: documents, tokenizer: tokenizer, options: sequenceOptions,
                                    validationFraction: validationFraction, seed: training.seed)
        }
        return try openShards(data, tokenizer: tokenizer, tokenizerSpec: self.tokenizer, modelVocabulary: config.vocabSize)
            .split(tokenizer: tokenizer, options: sequenceOptions)
    }
}

extension CheckpointInput {
    /// The documents of `--data`: a corpus, or of a shard directory its validation split (all of
    /// its shards when it has no validation split).
    func evaluationDocuments(tokenizer: any Tokenizer, modelVocabulary: Int) throws -> [Document] {
        guard ShardManifest.isShardDirectory(data) else { return try CorpusReader.readDocuments(at: data) }
        let shards = try openShards(data, tokenizer: tokenizer, tokenizerSpec: self.tokenizer ?? tokenizer.name, modelVocabulary: modelVocabulary)
        let documents = shards.documents(shards.validation.isEmpty ? shards.train : shards.validation)
        guard !documents.isEmpty else { throw DataError.emptyCorpus(data) }
        return documents
    }
}
