/// What a run reports as it goes; the CLI decides how to show it and tests assert on it.
public enum TrainingEvent: Sendable {
    case started(RunInfo)
    case step(StepRecord)
    case eval(EvalRecord)
    /// The loss or the gradient became NaN or infinite; the run stops without applying that update.
    case diverged(DivergenceRecord)
    /// A checkpoint folder was written (atomically) after `step` updates.
    case checkpoint(CheckpointRecord)
    case done(TrainingSummary)
}

public struct CheckpointRecord: Codable, Sendable {
    public var step: Int
    public var path: String
}

/// Facts about the run known before the first step.
public struct RunInfo: Codable, Sendable {
    public var parameters: Int
    public var trainSequences: Int
    public var validationSequences: Int
    public var steps: Int
    public var tokensPerStep: Int
    /// Updates already done (non-zero when resuming).
    public var startStep: Int

    enum CodingKeys: String, CodingKey {
        case parameters, trainSequences = "train_sequences", validationSequences = "validation_sequences"
        case steps, tokensPerStep = "tokens_per_step", startStep = "start_step"
    }
}

/// One optimizer update.
public struct StepRecord: Codable, Sendable {
    /// 1-based update number.
    public var step: Int
    /// Mean over the micro-batches of each one's mean token loss (the official accumulation).
    public var loss: Double
    public var lr: Double
    /// Global gradient norm before clipping.
    public var gradNorm: Double
    /// Per-layer and per-group gradient norms (before clipping).
    public var gradNorms: GradientNormSummary
    /// Tokens (B·T positions, padding included) processed so far.
    public var tokens: Int
    public var tokensPerSecond: Double
    /// Seconds since this process started (or resumed) the run.
    public var elapsedSeconds: Double
    /// Data parallel: seconds this update spent summing gradients over the ranks (nil in one process).
    public var allReduceSeconds: Double? = nil
    /// The objective's own measures (DPO: `rewards/chosen`, …), means over the update's
    /// micro-batches like `loss`; written as top-level keys of the record (empty for cross-entropy).
    public var metrics: [String: Double] = [:]

    enum CodingKeys: String, CodingKey, CaseIterable {
        case step, loss, lr, gradNorm = "grad_norm", gradNorms = "grad_norms", tokens
        case tokensPerSecond = "tokens_per_second", elapsedSeconds = "elapsed_seconds", allReduceSeconds = "allreduce_seconds"
    }

    /// Seconds the updates after this one will take at this process's pace so far;
    /// `startStep` is the number of updates done before it started (`RunInfo.startStep`).
    public func secondsRemaining(totalSteps: Int, startStep: Int) -> Double {
        let stepsDoneHere = step - startStep
        guard stepsDoneHere > 0 else { return .nan }
        return Double(totalSteps - step) * elapsedSeconds / Double(stepsDoneHere)
    }
}

/// The grouped gradient norms logged every update.
public struct GradientNormSummary: Codable, Sendable {
    public var embedding: Double
    public var layers: [Double]
    public var finalNorm: Double
    public var lmHead: Double

    enum CodingKeys: String, CodingKey { case embedding, layers, finalNorm = "final_norm", lmHead = "lm_head" }
}

/// A validation pass.
public struct EvalRecord: Codable, Equatable, Sendable {
    public var step: Int
    /// The objective's validation loss: cross-entropy, the mean over every predicted (non-ignored)
    /// validation token; DPO, the mean over the validation pairs.
    public var loss: Double
    /// exp of the mean token loss over `tokens` (DPO: of the chosen replies' tokens).
    public var perplexity: Double
    public var tokens: Int
    /// The objective's own measures (DPO: `rewards/chosen`, …), top-level keys of the record.
    public var metrics: [String: Double] = [:]

    enum CodingKeys: String, CodingKey, CaseIterable { case step, loss, perplexity, tokens }
}

public struct DivergenceRecord: Codable, Sendable {
    public var step: Int
    public var loss: Double
    public var gradNorm: Double?

    enum CodingKeys: String, CodingKey { case step, loss, gradNorm = "grad_norm" }
}

/// How the run ended.
public struct TrainingSummary: Codable, Sendable {
    /// `stopped`: ended early on request (`--stop-after`, Ctrl-C) after saving a checkpoint; resumable.
    public enum Status: String, Codable, Sendable { case completed, diverged, stopped }
    public var status: Status
    public var steps: Int
    public var finalLoss: Double?
    public var finalEval: EvalRecord?
    public var divergedAt: Int?
    /// Wall seconds of training, summed over every process that ran it (a resumed run counts the
    /// time before its checkpoint too; checkpoints older than `TrainingState.trainingSeconds` count from the resume).
    public var elapsedSeconds: Double
    public var tokens: Int

    enum CodingKeys: String, CodingKey {
        case status, steps, finalLoss = "final_loss", finalEval = "final_eval", divergedAt = "diverged_at"
        case elapsedSeconds = "elapsed_seconds", tokens
    }
}
