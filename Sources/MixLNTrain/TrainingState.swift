import MixLNData

/// Where a run stands between two updates: everything besides weights and optimizer moments that
/// resuming needs to continue exactly as if it had never stopped. Saved as `training_state.json`.
public struct TrainingState: Codable, Equatable, Sendable {
    /// Updates completed.
    public var step: Int
    /// Tokens (B·T positions) processed.
    public var tokens: Int
    /// The next training sequence to be served.
    public var dataPosition: BatchLoader.Position
    /// Adam's update count (bias correction).
    public var optimizerSteps: Int
    public var seed: UInt64
    /// Training and validation sequence counts, to recognise the same data on resume.
    public var trainSequences: Int
    public var validationSequences: Int
    public var lastLoss: Double?
    public var lastEval: EvalRecord?
    /// Wall seconds spent training up to this state, summed over every process that ran it
    /// (nil in checkpoints written before it was recorded).
    public var trainingSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case step, tokens, dataPosition = "data_position", optimizerSteps = "optimizer_steps", seed
        case trainSequences = "train_sequences", validationSequences = "validation_sequences"
        case lastLoss = "last_loss", lastEval = "last_eval", trainingSeconds = "training_seconds"
    }
}
