import ArgumentParser
import Foundation
import MixLNAnalysis
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTrain

/// The options every command that reads a trained model and some data shares.
struct CheckpointInput: ParsableArguments {
    @OptionGroup var model: CheckpointModelOptions

    @Option(help: "Text file, folder, JSONL with 'text' or 'input_ids' (each record one sequence), C4-layout .json.gz, or a `mixln prepare` shard directory.")
    var data: String

    @Option(help: "Which documents of --data: all, validation or train. Default: the validation split of a shard directory, or of the run's own training data when --checkpoint is a run (the documents train held out); else all.")
    var split: DataSplit?

    @Option(help: "Tokenizer for text data: 'byte', a SentencePiece .model, or a tokenizer.json (default: the checkpoint's own tokenizer file, else a shard directory's, else byte). Data of input_ids needs none: its ids are checked against the model's vocab_size.")
    var tokenizer: String?

    @Option(help: "Tokens per sequence (default: the run's --seq-len on its own training data, else 256; at most the model's max_sequence_length).")
    var seqLen: Int?

    @Option(help: "Sequences per forward pass.")
    var batchSize: Int = 8

    @Option(help: "Stop after at least this many predicted tokens (whole batches).")
    var maxTokens: Int?

    @Flag(inversion: .prefixedNo, help: "Concatenate documents with eos instead of one padded document per sequence (default: as the run did on its own training data, else off).")
    var packing: Bool?

    var checkpoint: String { model.checkpoint }

    /// The model folder: `checkpoint` itself, or the newest checkpoint of a run directory; a GGUF
    /// file stands for itself (it carries its config and its tokenizer).
    static func modelFolder(_ checkpoint: String) throws -> String {
        if GGUFModel.isGGUF(checkpoint) {
            guard FileManager.default.fileExists(atPath: checkpoint) else { throw CLIError("\(checkpoint): no such file") }
            return checkpoint
        }
        let config = (checkpoint as NSString).appendingPathComponent(ModelDirectory.configFile)
        if FileManager.default.fileExists(atPath: config) { return checkpoint }
        if let newest = TrainingCheckpoint.checkpoints(in: checkpoint).last { return newest }
        throw CLIError("\(checkpoint): neither a model folder (no config.json) nor a run directory with checkpoints")
    }

    /// The tokenizer file a checkpoint carries (`tokenizer.json`, or a SentencePiece `.model`), else `byte`.
    static func defaultTokenizer(in folder: String) -> String {
        carriedTokenizer(in: folder) ?? "byte"
    }

    /// The tokenizer file a checkpoint carries (`tokenizer.json`, or a SentencePiece `.model`; a
    /// GGUF file's own metadata), if any.
    static func carriedTokenizer(in folder: String) -> String? {
        if GGUFModel.isGGUF(folder) { return folder }
        let json = (folder as NSString).appendingPathComponent("tokenizer.json")
        if FileManager.default.fileExists(atPath: json) { return json }
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.sorted().first(where: { $0.hasSuffix(".model") }).map { (folder as NSString).appendingPathComponent($0) }
    }

    /// The model (see `CheckpointModelOptions.loadModel`).
    func loadModel(needsGradients: Bool = false) throws -> Transformer<Float> {
        try model.loadModel(needsGradients: needsGradients)
    }

    /// The data as batches of `batchSize` sequences, in order, cut at `maxTokens`: the documents
    /// `--split` selects (by default a held-out split where there is one, said on stderr).
    func batches(for model: Transformer<Float>) throws -> TokenBatches {
        if let maxTokens, maxTokens <= 0 { throw CLIError("--max-tokens must be positive, got \(maxTokens)") }
        guard batchSize > 0 else { throw CLIError("--batch-size must be positive, got \(batchSize)") }
        let folder = try Self.modelFolder(checkpoint)
        // The run's own training data is cut as train cut it, unless told otherwise.
        let run = try TrainedRun.containing(checkpoint: checkpoint).flatMap { $0.trainedOn(data) ? $0 : nil }
        let length = seqLen ?? run.map { min($0.seqLen, model.config.maxSequenceLength) } ?? min(256, model.config.maxSequenceLength)
        guard length >= 2 else { throw CLIError("--seq-len must be at least 2, got \(length)") }
        guard length <= model.config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: length, maximum: model.config.maxSequenceLength)
        }
        let isShards = ShardManifest.isShardDirectory(data)
        let spec = try tokenizer ?? Self.carriedTokenizer(in: folder) ?? (isShards ? shardTokenizer(data) : "byte")
        let tokenizer = try TokenizerLoader.load(path: spec)
        let selected = try EvaluationDocuments.select(split, of: data, run: run) {
            try openShards(data, tokenizer: tokenizer, given: self.tokenizer, source: "the checkpoint's tokenizer",
                           modelVocabulary: model.config.vocabSize)
        }
        try checkTokenizerFits(tokenizer, documents: selected.documents, modelVocabulary: model.config.vocabSize)
        let options = SequenceOptions(seqLen: length, packing: packing ?? run?.packing ?? false, vocabularySize: model.config.vocabSize)
        let sequences: any SequenceSource = try selected.shards.map { try ShardSequences(shards: $0, tokenizer: tokenizer, options: options) }
            ?? SequenceBuilder.build(selected.documents, tokenizer: tokenizer, options: options)
        let batches = try Self.batches(sequences, for: model, batchSize: batchSize, maxTokens: maxTokens, source: data)
        if let note = selected.note { progressLine(note) }
        return batches
    }

    /// Sequences as batches for `model`, in order, cut at `maxTokens`, built as they are read;
    /// `source` names the data in errors. Sequences built for the model's vocabulary
    /// (`SequenceOptions.vocabularySize`) pad with an id it has; shards were checked against it when
    /// opened, and sequences held in memory are checked here.
    /// Each batch is cut to its longest sequence (`TokenBatch.trimmedToLongest`): 128-token documents
    /// with `--seq-len 256` run at T = 128, with the same results.
    static func batches(_ sequences: any SequenceSource, for model: Transformer<Float>,
                        batchSize: Int, maxTokens: Int?, source data: String) throws -> TokenBatches {
        guard !sequences.isEmpty else {
            throw CLIError("\(data): no sequences to analyze (the data set is empty)")
        }
        if let built = sequences as? [TokenSequence] {
            for sequence in built {
                if let bad = sequence.tokens.first(where: { Int($0) >= model.config.vocabSize }) {
                    throw CLIError("\(data): token id \(bad) is outside the model's vocabulary of \(model.config.vocabSize)")
                }
            }
        }
        let all = TokenBatches(source: sequences, batchSize: batchSize, trimmed: true)
        let batches = Evaluation.limit(all, maxTokens: maxTokens)
        guard batches.contains(where: { $0.predictedTokenCount > 0 }) else {
            throw CLIError("\(data): no tokens to predict (every sequence is shorter than 2 tokens)")
        }
        return batches
    }
}

/// `--weights`: how a command holds a checkpoint's weights in memory.
enum WeightsOption: String, ExpressibleByArgument, CaseIterable {
    case auto, bf16, fp32

    /// The precision to load `folder` with: `auto` keeps bf16 checkpoints in bf16 unless gradients are needed.
    func precision(for folder: String, needsGradients: Bool) throws -> WeightPrecision {
        switch self {
        case .fp32: return .fp32
        case .bf16:
            if needsGradients {
                throw CLIError("--weights bf16 keeps the weights for the forward pass only, and this command computes gradients; use --weights fp32 (or auto)")
            }
            return .bf16
        case .auto: return try !needsGradients && ModelDirectory.storesBFloat16(folder) ? .bf16 : .fp32
        }
    }
}
