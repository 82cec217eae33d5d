import ArgumentParser
import Foundation
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTrain

/// `mixln bench`: training and evaluation throughput of a model on random tokens.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training (forward + backward + Adam) and evaluation tokens per second.",
        discussion: "Reports the median over --steps timed steps after --warmup untimed ones. Build with `swift build -c release` for meaningful numbers.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Sequences per step.") var batchSize: Int = 8
    @Option(help: "Tokens per sequence.") var seqLen: Int = 256
    @OptionGroup var precisionOptions: PrecisionOptions
    @Option(help: "Timed steps.") var steps: Int = 5
    @Option(help: "Untimed warm-up steps.") var warmup: Int = 2
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "With --vocab-size tokenizer: the tokenizer whose size the vocabulary takes, as in train ('byte' by default, a SentencePiece .model, or a tokenizer.json). Bench runs on random ids; nothing is tokenized.")
    var tokenizer: String?
    @Flag(help: "Print one JSON document on stdout.") var json = false

    func run() throws {
        let precision = try precisionOptions.resolved()
        guard batchSize > 0, seqLen >= 2, steps > 0, warmup >= 0 else {
            throw CLIError("--batch-size and --steps must be positive, --seq-len at least 2, --warmup not negative")
        }
        if let threads { Parallel.setThreadCount(threads) }
        let config = try modelOptions.resolveConfig(tokenizerVocabulary: try tokenizerVocabulary())
        guard seqLen <= config.maxSequenceLength else {
            throw ModelError.sequenceTooLong(requested: seqLen, maximum: config.maxSequenceLength)
        }
        let model = try Transformer<Float>(config: config, plan: modelOptions.resolvePlan(layers: config.numHiddenLayers))
        model.initializeWeights(seed: 0)
        model.matmulPrecision = precision.matmul
        let optimizer = AdamOptimizer<Float>(parameterCount: model.parameterCount, settings: OptimizerSettings(),
                                             roundsToBFloat16: precision.storesStateInBFloat16)
        var rng = RandomSource(seed: 1)
        let tokens = (0..<(batchSize * seqLen)).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        let targets = (0..<(batchSize * seqLen)).map { i in
            (i + 1) % seqLen == 0 ? CrossEntropy.ignoreIndex : tokens[i + 1]
        }
        let tokensPerStep = Double(batchSize * seqLen)

        func timed(_ body: () throws -> Void) rethrows -> Double {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        }
        var trainTimes: [Double] = [], evalTimes: [Double] = []
        let gemm = precision.matmul == .bf16 ? GemmBackend.bf16 : GemmBackend.fp32
        FileHandle.standardError.write(Data("bench \(modelOptions.model ?? "") (\(formatCount(model.parameterCount)) parameters), batch \(batchSize) × \(seqLen), \(Parallel.threadCount) threads, \(precision.rawValue) (GEMM: \(gemm), oneDNN ISA \(GemmBackend.isa))\n".utf8))
        for i in 0..<(warmup + steps) {
            let seconds = try timed {
                model.zeroGradients()
                try model.forward(tokens: tokens, targets: targets, batch: batchSize, seqLen: seqLen)
                model.backward()
                optimizer.step(model, lr: 1e-4)
            }
            if i >= warmup { trainTimes.append(seconds) }
        }
        for i in 0..<(warmup + steps) {
            let seconds = try timed { try model.forward(tokens: tokens, targets: targets, batch: batchSize, seqLen: seqLen) }
            if i >= warmup { evalTimes.append(seconds) }
        }
        let result = BenchResult(
            trainTokensPerSecond: tokensPerStep / median(trainTimes), evalTokensPerSecond: tokensPerStep / median(evalTimes),
            model: modelOptions.model ?? "", norm: model.plan.scheme,
            parameters: model.parameterCount, batchSize: batchSize, seqLen: seqLen, precision: precision.rawValue,
            gemm: gemm, isa: GemmBackend.isa, ompWaitPolicy: OpenMPWaitPolicy.current,
            threads: Parallel.threadCount, steps: steps, trainStepSeconds: median(trainTimes))
        if json {
            try JSONCoding.printDocument(result)
        } else {
            print("train: \(Int(result.trainTokensPerSecond)) tokens/s (\(fixed(result.trainStepSeconds, 3)) s/step)   eval: \(Int(result.evalTokensPerSecond)) tokens/s")
        }
    }

    /// The vocabulary `--vocab-size tokenizer` means: `--tokenizer`'s size (byte's 258 by default, as in train).
    private func tokenizerVocabulary() throws -> Int? {
        guard modelOptions.vocabSize == "tokenizer" else {
            if let tokenizer { throw CLIError("--tokenizer \(tokenizer) sets the vocabulary only with --vocab-size tokenizer (bench runs on random ids)") }
            return nil
        }
        return try TokenizerLoader.load(path: tokenizer ?? "byte").vocabularySize
    }

    private func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }
}

struct BenchResult: Encodable {
    let trainTokensPerSecond: Double
    let evalTokensPerSecond: Double
    let model: String
    let norm: String
    let parameters: Int
    let batchSize: Int
    let seqLen: Int
    let precision: String
    /// What computed the products: `onednn`, `blas`, or `widened` (bf16 on a CPU without oneDNN's bf16 GEMM).
    let gemm: String
    /// The instruction set oneDNN dispatched to (`none` without oneDNN).
    let isa: String
    /// `OMP_WAIT_POLICY` as the GEMMs' OpenMP threads run (`PASSIVE` unless the user set it).
    let ompWaitPolicy: String?
    let threads: Int
    let steps: Int
    let trainStepSeconds: Double

    enum CodingKeys: String, CodingKey {
        case trainTokensPerSecond = "train_tokens_per_second", evalTokensPerSecond = "eval_tokens_per_second"
        case model, norm, parameters, batchSize = "batch_size", seqLen = "seq_len", precision, gemm, isa, ompWaitPolicy = "omp_wait_policy", threads, steps
        case trainStepSeconds = "train_step_seconds"
    }
}
