import ArgumentParser
import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// The options that say which trained model to load and how to hold it: shared by every command
/// that reads a checkpoint (`CheckpointInput` adds data options, `ModelInput` a checked tokenizer).
struct CheckpointModelOptions: ParsableArguments {
    @Option(help: "A model folder (config.json + model.safetensors, ours or the official code's), a run directory (its newest checkpoint), or a LLaMA GGUF file (llama.cpp's format; dequantized to fp32).")
    var checkpoint: String

    @Option(help: "Norm scheme the checkpoint was trained with; required for folders that do not record it (the official code's).")
    var norm: String?

    @Option(help: "Official POST_NUM for --norm post_pre / mix.")
    var postNum: Int?

    @Option(help: "Threads (default: all cores).")
    var threads: Int?

    @Option(help: "Weights in memory: 'fp32', 'bf16' (kept as stored, forward only: about half the memory), or 'auto' (bf16 when the checkpoint stores BF16 and the command needs no gradients).")
    var weights: WeightsOption = .auto

    @OptionGroup var precisionOptions: PrecisionOptions

    /// The model, its weights held as `--weights` says (`needsGradients`, a backward pass, forces
    /// fp32), its products computed as `--precision` says (bf16 weights are then read in place), by
    /// default in bf16 when the weights are held in bf16.
    func loadModel(needsGradients: Bool = false) throws -> Transformer<Float> {
        if let threads { Parallel.setThreadCount(threads) }
        let model = try Self.load(checkpoint, norm: norm, postNum: postNum, weights: weights, needsGradients: needsGradients)
        model.matmulPrecision = try precisionOptions.matmulPrecision(for: model)
        return model
    }

    /// The model of `checkpoint`: a GGUF file (dequantized to fp32, Pre-LN), else a model folder or
    /// run directory (`CheckpointInput.modelFolder`) held as `weights` says.
    static func load(_ checkpoint: String, norm: String?, postNum: Int?, weights: WeightsOption,
                     needsGradients: Bool) throws -> Transformer<Float> {
        if GGUFModel.isGGUF(checkpoint) {
            if weights == .bf16 {
                throw CLIError("--weights bf16 reads BF16 safetensors in place; a GGUF file's weights are dequantized to fp32 (use --weights fp32 or auto)")
            }
            if postNum != nil { throw CLIError("--post-num does not apply to a GGUF file: its LLaMA model is Pre-LN") }
            return try GGUFModel.load(checkpoint, norm: norm)
        }
        let folder = try CheckpointInput.modelFolder(checkpoint)
        return try ModelDirectory.load(folder, norm: norm, postNum: postNum,
                                       weights: weights.precision(for: folder, needsGradients: needsGradients))
    }
}

/// The checkpoint options without data options, plus a tokenizer checked against the checkpoint:
/// for commands that read a trained model and data of their own kind (`eval-mc` task files, `sft`).
struct ModelInput: ParsableArguments {
    @OptionGroup var model: CheckpointModelOptions

    @Option(help: "Tokenizer: 'byte', a SentencePiece .model, or a tokenizer.json (default: the checkpoint's own tokenizer file, else its run's, else byte). Refused when the checkpoint records another one.")
    var tokenizer: String?

    var checkpoint: String { model.checkpoint }

    /// The model (see `CheckpointModelOptions.loadModel`).
    func loadModel(needsGradients: Bool = false) throws -> Transformer<Float> {
        try model.loadModel(needsGradients: needsGradients)
    }

    /// The tokenizer that encodes text for `model` (see `checkpointTokenizer`).
    func loadTokenizer(for model: Transformer<Float>) throws -> any Tokenizer {
        try checkpointTokenizer(checkpoint: checkpoint, given: tokenizer, model: model)
    }
}

/// The tokenizer to encode text for the model of `checkpoint`: `given` (a `--tokenizer`), else the
/// tokenizer file the checkpoint carries, else the one its run recorded, else `byte` (said on stderr).
/// - Throws: when `given` is not the tokenizer the checkpoint or its run records (their fingerprints
///   differ), or when the tokenizer has more ids than the model's vocabulary.
func checkpointTokenizer(checkpoint: String, given: String?, model: Transformer<Float>) throws -> any Tokenizer {
    let recorded = try recordedTokenizer(checkpoint: checkpoint)
    let spec = given ?? recorded ?? "byte"
    let tokenizer = try TokenizerLoader.load(path: spec)
    if let given, let recorded, let expected = try? TokenizerLoader.load(path: recorded), expected.fingerprint != tokenizer.fingerprint {
        throw CLIError("--tokenizer \(given) does not match the checkpoint: \(checkpoint) was trained with \(recorded) (fingerprint \(expected.fingerprint)), --tokenizer has fingerprint \(tokenizer.fingerprint); drop --tokenizer to use the checkpoint's own")
    }
    guard tokenizer.vocabularySize <= model.config.vocabSize else {
        throw CLIError("the tokenizer \(spec) does not match the checkpoint: it has \(tokenizer.vocabularySize) ids but the model's vocab_size is \(model.config.vocabSize)")
    }
    if given == nil, recorded == nil {
        progressLine("note: \(checkpoint) records no tokenizer; encoding text with 'byte' (pass --tokenizer for another)")
    }
    return tokenizer
}

/// The tokenizer a checkpoint records: the file it carries, else its run's `tokenizer`; nil for neither.
func recordedTokenizer(checkpoint: String) throws -> String? {
    let folder = try CheckpointInput.modelFolder(checkpoint)
    if let carried = CheckpointInput.carriedTokenizer(in: folder) { return carried }
    return try TrainedRun.containing(checkpoint: checkpoint)?.record.tokenizer
}
