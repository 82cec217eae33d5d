/// Everything that decides how a run trains (the model and data are given separately).
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// Number of optimizer updates.
    public var steps: Int
    /// Sequences per forward/backward (`--batch-size`).
    public var microBatchSize: Int
    /// Sequences per update (`--total-batch-size`); a multiple of `microBatchSize`.
    public var totalBatchSize: Int
    public var seqLen: Int
    public var schedule: LearningRateSchedule
    public var optimizer: OptimizerSettings
    /// Clip the global gradient norm to this value before the update; nil = off (official default).
    public var clipGradNorm: Double?
    /// Evaluate on the validation split every this many updates (0 = only at the end).
    public var evalEvery: Int
    /// At most this many validation batches per evaluation (nil = the whole split).
    public var evalBatches: Int?
    /// Save a checkpoint every this many updates (0: only at the end).
    public var saveEvery: Int
    public var seed: UInt64
    /// How the run computes and stores (`--precision`); runs recorded before it existed are fp32.
    public var precision: TrainingPrecision

    public init(steps: Int, microBatchSize: Int, totalBatchSize: Int? = nil, seqLen: Int,
                schedule: LearningRateSchedule, optimizer: OptimizerSettings = .init(),
                clipGradNorm: Double? = nil, evalEvery: Int = 0, evalBatches: Int? = nil, saveEvery: Int = 0, seed: UInt64 = 0,
                precision: TrainingPrecision = .fp32) {
        self.steps = steps
        self.microBatchSize = microBatchSize
        self.totalBatchSize = totalBatchSize ?? microBatchSize
        self.seqLen = seqLen
        self.schedule = schedule
        self.optimizer = optimizer
        self.clipGradNorm = clipGradNorm
        self.evalEvery = evalEvery
        self.evalBatches = evalBatches
        self.saveEvery = saveEvery
        self.seed = seed
        self.precision = precision
    }

    /// Micro-batches per update.
    public var accumulationSteps: Int { totalBatchSize / microBatchSize }

    /// Checks the numbers make a run; the message names the option.
    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws { if !ok { throw TrainingError.invalidOption(message) } }
        try require(steps > 0, "--steps must be positive, got \(steps)")
        try require(microBatchSize > 0, "--batch-size must be positive, got \(microBatchSize)")
        try require(totalBatchSize >= microBatchSize && totalBatchSize % microBatchSize == 0,
                    "--total-batch-size \(totalBatchSize) must be a positive multiple of --batch-size \(microBatchSize)")
        try require(seqLen >= 2, "--seq-len must be at least 2, got \(seqLen)")
        try require(schedule.peak > 0 && schedule.peak.isFinite, "--lr must be positive, got \(schedule.peak)")
        try require(schedule.warmupSteps >= 0, "--warmup must not be negative")
        try require((0...1).contains(schedule.minRatio), "--min-lr-ratio must be between 0 and 1")
        try require(clipGradNorm.map { $0 > 0 } ?? true, "--clip must be positive")
        try require(evalEvery >= 0, "--eval-every must not be negative")
        try require(evalBatches.map { $0 > 0 } ?? true, "--eval-batches must be positive")
        try require(saveEvery >= 0, "--save-every must not be negative")
    }

    enum CodingKeys: String, CodingKey {
        case steps, microBatchSize = "batch_size", totalBatchSize = "total_batch_size", seqLen = "seq_len"
        case schedule, optimizer, clipGradNorm = "clip_grad_norm", evalEvery = "eval_every"
        case evalBatches = "eval_batches", saveEvery = "save_every", seed, precision
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        steps = try c.decode(Int.self, forKey: .steps)
        microBatchSize = try c.decode(Int.self, forKey: .microBatchSize)
        totalBatchSize = try c.decode(Int.self, forKey: .totalBatchSize)
        seqLen = try c.decode(Int.self, forKey: .seqLen)
        schedule = try c.decode(LearningRateSchedule.self, forKey: .schedule)
        optimizer = try c.decode(OptimizerSettings.self, forKey: .optimizer)
        clipGradNorm = try c.decodeIfPresent(Double.self, forKey: .clipGradNorm)
        evalEvery = try c.decode(Int.self, forKey: .evalEvery)
        evalBatches = try c.decodeIfPresent(Int.self, forKey: .evalBatches)
        saveEvery = try c.decode(Int.self, forKey: .saveEvery)
        seed = try c.decode(UInt64.self, forKey: .seed)
        precision = try c.decodeIfPresent(TrainingPrecision.self, forKey: .precision) ?? .fp32
    }
}

/// Errors from setting up or running training.
public enum TrainingError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    case noTrainingData(String)

    public var description: String {
        switch self {
        case .invalidOption(let m), .noTrainingData(let m): return m
        }
    }
}
