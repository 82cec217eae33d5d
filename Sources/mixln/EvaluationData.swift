import ArgumentParser
import Foundation
import MixLNData

/// `--split`: which documents of `--data` a command reads.
enum DataSplit: String, ExpressibleByArgument, CaseIterable {
    /// Every document.
    case all
    /// The held-out documents: a shard directory's validation shards, or those `train` held out
    /// of the corpus of the run the checkpoint belongs to.
    case validation
    /// The documents trained on.
    case train
}

/// The documents a checkpoint command evaluates, and the line saying which part of the data they are.
struct EvaluationDocuments {
    /// The documents of a corpus read into memory (empty when `shards` holds them).
    var documents: [Document]
    /// The token shards holding the documents of a shard directory, read as batches need them.
    var shards: [TokenShard]? = nil
    /// Said on stderr when the part was chosen by default rather than by `--split`.
    var note: String?

    /// Selects the documents of `data`: for a shard directory its own split; for the training data
    /// of `run` the split `train` made (`DatasetSplitter` with the run's seed and validation
    /// fraction, so exactly the documents it held out); for other data only `all`.
    /// The default is the validation split where there is one, else every document.
    /// - Parameter shards: opens `data` as a shard directory checked against the tokenizer and model.
    static func select(_ split: DataSplit?, of data: String, run: TrainedRun?,
                       shards: () throws -> ShardDataset) throws -> EvaluationDocuments {
        if ShardManifest.isShardDirectory(data) {
            let dataset = try shards()
            let part = split ?? (dataset.validation.isEmpty ? .all : .validation)
            if part == .validation, dataset.validation.isEmpty {
                throw CLIError("\(data) has no validation shards (prepared with --val-fraction 0); use --split all or train")
            }
            let selected = [DataSplit.all: dataset.train + dataset.validation, .validation: dataset.validation, .train: dataset.train][part]!
            let documentCount = selected.reduce(0) { $0 + $1.documentCount }
            guard documentCount > 0 else { throw DataError.emptyCorpus(data) }
            let note = split == nil && part == .validation
                ? "using the validation split of \(data) (\(documentCount) documents); --split all for every document" : nil
            return EvaluationDocuments(documents: [], shards: selected, note: note)
        }
        let documents = try CorpusReader.readDocuments(at: data)
        guard let run else {
            if let split, split != .all {
                throw CLIError("--split \(split.rawValue) needs data with a held-out split: a `mixln prepare` shard directory, or the training data of the run --checkpoint belongs to (run.json 'data'); \(data) is neither, so only --split all applies")
            }
            return EvaluationDocuments(documents: documents, note: nil)
        }
        let parts = DatasetSplitter.split(documents, validationFraction: run.validationFraction, seed: run.seed)
        switch split {
        case nil where parts.validation.isEmpty:
            return EvaluationDocuments(documents: documents,
                                       note: "\(data) is the training data of \(run.directory), which held out no validation documents: evaluating on documents it was trained on")
        case nil, .validation?:
            guard !parts.validation.isEmpty else {
                throw CLIError("\(run.directory) held out no validation documents of \(data) (validation fraction \(run.validationFraction)); use --split all or train")
            }
            let note = split == nil
                ? "\(data) is the training data of \(run.directory): using its validation split (\(parts.validation.count) of \(documents.count) documents, held out with seed \(run.seed)); --split all for every document"
                : nil
            return EvaluationDocuments(documents: parts.validation, note: note)
        case .train?:
            return EvaluationDocuments(documents: parts.train, note: nil)
        case .all?:
            return EvaluationDocuments(documents: documents, note: nil)
        }
    }
}
