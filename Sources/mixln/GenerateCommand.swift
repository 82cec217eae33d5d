import ArgumentParser
import Foundation
import MixLNData
import MixLNModel
import MixLNTensor

/// `mixln generate`: continues a prompt with a trained model (KV-cached decoding).
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Continue a prompt: greedy by default, or sampled with --temperature and --top-k.")

    @Option(help: "A model folder, a run directory (its newest checkpoint), or a LLaMA GGUF file.") var checkpoint: String
    @Option(help: "Norm scheme, for folders that do not record it.") var norm: String?
    @Option(help: "Official POST_NUM for --norm post_pre / mix.") var postNum: Int?
    @Option(help: "Text to continue.") var prompt: String
    @Option(help: "Tokenizer: 'byte', a SentencePiece .model, a tokenizer.json, or a GGUF file (default: the checkpoint's own, else byte).") var tokenizer: String?
    @Option(help: "Tokens to generate at most (fewer at the model's context limit or at eos).") var maxNewTokens: Int = 100
    @Option(help: "0 = greedy; above 0 samples from softmax(logits / temperature).") var temperature: Double = 0
    @Option(help: "Sample among the k most likely tokens only.") var topK: Int?
    @Option(help: "Seed for sampling.") var seed: UInt64 = 0
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "Weights in memory: 'fp32', 'bf16' (kept as stored: about half the memory), or 'auto' (bf16 when the checkpoint stores BF16).")
    var weights: WeightsOption = .auto
    @OptionGroup var precisionOptions: PrecisionOptions
    @Flag(help: "Print {\"prompt_ids\", \"ids\", \"text\"} as one JSON document.") var json = false

    func run() throws {
        if let threads { Parallel.setThreadCount(threads) }
        guard maxNewTokens >= 0 else { throw CLIError("--max-new-tokens must not be negative") }
        guard temperature >= 0, temperature.isFinite else { throw CLIError("--temperature must be 0 or positive") }
        if let topK, topK < 1 { throw CLIError("--top-k must be at least 1") }
        let folder = try CheckpointInput.modelFolder(checkpoint)
        let model = try CheckpointModelOptions.load(checkpoint, norm: norm, postNum: postNum, weights: weights, needsGradients: false)
        model.matmulPrecision = try precisionOptions.matmulPrecision(for: model)
        let tokenizer = try TokenizerLoader.load(path: self.tokenizer ?? CheckpointInput.defaultTokenizer(in: folder))
        // The prompt without the end-of-text a tokenizer may append, after its beginning-of-text if it has one.
        let promptIds = (tokenizer.bosId.map { [$0] } ?? []) + tokenizer.encode(prompt, addSpecialTokens: false)
        guard !promptIds.isEmpty else { throw CLIError("--prompt is empty") }
        if let bad = promptIds.first(where: { Int($0) >= model.config.vocabSize }) {
            throw CLIError("prompt token \(bad) is outside the model's vocabulary of \(model.config.vocabSize)")
        }
        guard promptIds.count < model.config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: promptIds.count + 1, maximum: model.config.maxSequenceLength)
        }
        let generator = TextGenerator(model: model)
        let ids = try generator.generate(prompt: promptIds, maxNewTokens: maxNewTokens,
                                         options: SamplingOptions(temperature: temperature, topK: topK, seed: seed),
                                         stop: tokenizer.eosId)
        // Decoded after the prompt, not alone: a SentencePiece continuation starting with "▁or" means " or".
        let text = tokenizer.decode(ids, after: promptIds)
        if json {
            try JSONCoding.printDocument(GenerationRecord(promptIds: promptIds, ids: ids, text: text))
        } else {
            print(prompt + text)
        }
    }
}

struct GenerationRecord: Encodable {
    let promptIds: [Int32]
    let ids: [Int32]
    let text: String

    enum CodingKeys: String, CodingKey { case promptIds = "prompt_ids", ids, text }
}
