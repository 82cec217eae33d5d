import MixLNAnalysis

/// What happened to one run after pre-training, as `compare.json` lists it under the run's
/// `downstream`: each fine-tuning stage in order, the model that was scored, and its accuracies.
struct DownstreamResult: Codable, Equatable {
    var stages: [FineTuningStage.Result] = []
    /// The run directory whose newest checkpoint was (or is to be) scored: the last stage's, else the
    /// pre-trained run's; nil when a stage diverged, so there is no model worth scoring.
    var model: String?
    /// `eval_mc.json`'s accuracies of `model` (acc, acc_norm and their standard errors per task).
    var tasks: [TaskAccuracy]?
}
