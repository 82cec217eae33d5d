import ArgumentParser
import Foundation
import MixLNAnalysis
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTrain

/// `mixln bench`: training and evaluation throughput of a model on random tokens.
///
/// A training step is exactly what `train` runs per update (`Trainer`: forward, backward, the
/// per-layer gradient norms it logs, Adam), timed as `train` times it; an evaluation step is what
/// `eval` runs (`Evaluation.evaluate`, forward only).
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure training (a `train` step: forward + backward + gradient norms + Adam) and evaluation tokens per second.",
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
    @Flag(help: "Also time each op kind (matmuls by shape, attention, norms, LM head + loss, optimizer, gradient norms) against this machine's measured GEMM ceiling, with activation and peak memory.")
    var profile = false
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
        model.matmulPrecision = precision.matmul  // the Trainer sets it too; eval runs in it as well
        let sequences = randomSequences(vocabulary: config.vocabSize)
        let tokensPerStep = batchSize * seqLen
        let gemm = precision.matmul == .bf16 ? GemmBackend.bf16 : GemmBackend.fp32
        FileHandle.standardError.write(Data("bench \(modelOptions.model ?? "") (\(formatCount(model.parameterCount)) parameters), batch \(batchSize) × \(seqLen), \(Parallel.threadCount) threads (\(Parallel.threadPool.rawValue)), \(precision.rawValue) (GEMM: \(gemm), oneDNN ISA \(GemmBackend.isa))\n".utf8))
        let ceiling = profile ? BenchProfile.measureGemmCeiling(precision: precision.matmul) : nil

        // Training: the Trainer's own steps (its precision and optimizer state included), timed as train reports them.
        let options = TrainingOptions(steps: warmup + steps, microBatchSize: batchSize, seqLen: seqLen,
                                      schedule: LearningRateSchedule(kind: .constant, peak: 1e-4, warmupSteps: 0, totalSteps: warmup + steps),
                                      precision: precision)
        let trainer = try Trainer(model: model, options: options, train: sequences, validation: nil)
        let trainProfiler = OpProfiler()
        var trainTimes: [Double] = []
        if profile, warmup == 0 { OpProfiler.active = trainProfiler }
        defer { OpProfiler.active = nil }
        try trainer.run { event in
            guard case .step(let record) = event else { return }
            if record.step > warmup { trainTimes.append(Double(tokensPerStep) / record.tokensPerSecond) }
            if profile, record.step == warmup { OpProfiler.active = trainProfiler }
        }
        OpProfiler.active = nil
        let trainActivations = model.activationBytes, trainPeak = ProcessMemory.peakBytes()

        // Evaluation: what `eval` runs on one batch.
        let batch = TokenBatch(sequences.prefix(batchSize), seqLen: seqLen)
        let evalProfiler = OpProfiler()
        var evalTimes: [Double] = []
        model.releaseActivations()
        let evalPeakIsSeparate = ProcessMemory.resetPeak()
        for i in 0..<(warmup + steps) {
            if profile, i == warmup { OpProfiler.active = evalProfiler }
            let start = DispatchTime.now().uptimeNanoseconds
            _ = try Evaluation.evaluate(model, batches: [batch])
            if i >= warmup { evalTimes.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
        }
        OpProfiler.active = nil

        var result = BenchResult(
            trainTokensPerSecond: Double(tokensPerStep) / median(trainTimes), evalTokensPerSecond: Double(tokensPerStep) / median(evalTimes),
            model: modelOptions.model ?? "", norm: model.plan.scheme,
            parameters: model.parameterCount, batchSize: batchSize, seqLen: seqLen, precision: precision.rawValue,
            gemm: gemm, isa: GemmBackend.isa, ompWaitPolicy: OpenMPWaitPolicy.current,
            threads: Parallel.threadCount, steps: steps, trainStepSeconds: median(trainTimes), evalStepSeconds: median(evalTimes),
            peakMemoryBytes: trainPeak, profile: nil)
        if let ceiling {
            result.profile = BenchProfile(
                gemmCeilingGflops: ceiling, gemmCeilingShape: "\(BenchProfile.ceilingSize)x\(BenchProfile.ceilingSize)->\(BenchProfile.ceilingSize)",
                train: StepProfile(entries: trainProfiler.entries, steps: steps, stepSeconds: mean(trainTimes), gemmCeiling: ceiling,
                                   activationBytes: trainActivations, tokensPerStep: tokensPerStep, peakMemoryBytes: trainPeak),
                eval: StepProfile(entries: evalProfiler.entries, steps: steps, stepSeconds: mean(evalTimes), gemmCeiling: ceiling,
                                  activationBytes: model.activationBytes, tokensPerStep: tokensPerStep,
                                  peakMemoryBytes: evalPeakIsSeparate ? ProcessMemory.peakBytes() : nil))
        }
        if json {
            try JSONCoding.printDocument(result)
            return
        }
        print("train: \(Int(result.trainTokensPerSecond)) tokens/s (\(fixed(result.trainStepSeconds, 3)) s/step)   eval: \(Int(result.evalTokensPerSecond)) tokens/s")
        if let profile = result.profile {
            let kind = precision.matmul == .bf16 ? "bf16 GEMM" : "sgemm"
            print("GEMM ceiling (\(kind) \(profile.gemmCeilingShape)): \(fixed(profile.gemmCeilingGflops, 1)) GFLOP/s")
            for line in profile.train.lines(title: "train step") + profile.eval.lines(title: "eval step") { print(line) }
        }
    }

    /// 4·B sequences of random ids, every position predicting the next (the last predicts nothing).
    private func randomSequences(vocabulary: Int) -> [TokenSequence] {
        var rng = RandomSource(seed: 1)
        return (0..<(4 * batchSize)).map { _ in
            let tokens = (0..<seqLen).map { _ in Int32(rng.next() % UInt64(vocabulary)) }
            return TokenSequence(tokens: tokens, targets: Array(tokens.dropFirst()) + [CrossEntropy.ignoreIndex])
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

    private func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }

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
    let evalStepSeconds: Double
    /// Peak resident memory of the process over the training steps (weights, gradients, Adam state, activations).
    let peakMemoryBytes: Int
    var profile: BenchProfile?

    enum CodingKeys: String, CodingKey {
        case trainTokensPerSecond = "train_tokens_per_second", evalTokensPerSecond = "eval_tokens_per_second"
        case model, norm, parameters, batchSize = "batch_size", seqLen = "seq_len", precision, gemm, isa, ompWaitPolicy = "omp_wait_policy", threads, steps
        case trainStepSeconds = "train_step_seconds", evalStepSeconds = "eval_step_seconds"
        case peakMemoryBytes = "peak_memory_bytes", profile
    }
}
