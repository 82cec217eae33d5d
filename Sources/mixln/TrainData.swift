import Foundation
import MixLNData

extension TrainCommand {
    /// Training and validation sequences from `--data`: a prepared shard directory (its own
    /// train/validation split, memory-mapped) or a corpus read and split here.
    func loadSplit(data: String, tokenizer: any Tokenizer, modelVocabulary: Int, options: SequenceOptions) throws -> DatasetSplit {
        guard ShardManifest.isShardDirectory(data) else {
            let documents = try CorpusReader.readDocuments(at: data)
            return try DatasetSplit(documents: documents, tokenizer: tokenizer, options: options,
                                    validationFraction: valFraction, seed: seed)
        }
        let manifest = try ShardManifest.read(directory: data)
        guard manifest.vocabSize <= modelVocabulary else {
            throw CLIError("\(data): the shards hold ids of a \(manifest.vocabSize)-id vocabulary but the model's vocab_size is \(modelVocabulary); use a model with at least \(manifest.vocabSize) ids")
        }
        let fingerprint = TokenizerFingerprint.of(tokenizer)
        guard manifest.tokenizerFingerprint == fingerprint else {
            throw CLIError("\(data): the shards were made with tokenizer '\(manifest.tokenizer)' (fingerprint \(manifest.tokenizerFingerprint)) but --tokenizer \(self.tokenizer) has fingerprint \(fingerprint); prepare them again with this tokenizer")
        }
        return try ShardDataset(directory: data).split(tokenizer: tokenizer, options: options)
    }
}
