import MixLNModel
import MixLNTensor

/// A task's accuracy with one decoder layer removed, and its change against the full model.
public struct LayerTaskAccuracy: Codable, Sendable, Equatable {
    public var task: String
    public var acc: Double
    public var accNorm: Double
    /// acc without the layer − acc of the full model (negative: the layer helped).
    public var deltaAcc: Double
    public var deltaAccNorm: Double

    enum CodingKeys: String, CodingKey {
        case task, acc, accNorm = "acc_norm", deltaAcc = "delta_acc", deltaAccNorm = "delta_acc_norm"
    }
}

/// Downstream accuracy when one decoder layer is removed (bypassed, no retraining): the paper's
/// performance drop measured on a benchmark rather than on perplexity.
public enum LayerDropAccuracy {
    /// Task accuracies of the full model and of the model with each layer skipped in turn.
    /// - Parameter progress: (forwards' choices scored, total over all L + 1 models).
    public static func run(_ model: Transformer<Float>, tasks: [EncodedTask], batchTokens: Int,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> (baseline: [TaskAccuracy], layers: [[LayerTaskAccuracy]]) {
        let L = model.config.numHiddenLayers
        let saved = model.skippedLayers
        defer { model.skippedLayers = saved }
        let perModel = tasks.reduce(0) { $0 + $1.questions.reduce(0) { $0 + $1.choices.count } }
        func evaluate(skipping skipped: Set<Int>, stage: Int) throws -> [TaskAccuracy] {
            model.skippedLayers = skipped
            return try MultipleChoiceEvaluation.run(model, tasks: tasks, batchTokens: batchTokens) { done, _ in
                progress(stage * perModel + done, (L + 1) * perModel)
            }.tasks
        }
        let baseline = try evaluate(skipping: [], stage: 0)
        let layers = try (0..<L).map { l in
            try zip(evaluate(skipping: [l], stage: l + 1), baseline).map { without, full in
                LayerTaskAccuracy(task: without.task, acc: without.acc, accNorm: without.accNorm,
                                  deltaAcc: without.acc - full.acc, deltaAccNorm: without.accNorm - full.accNorm)
            }
        }
        return (baseline, layers)
    }
}

extension LayerDropReport {
    /// The report with each entry's task accuracies added (`LayerDropAccuracy.run`'s result).
    public func adding(accuracy: (baseline: [TaskAccuracy], layers: [[LayerTaskAccuracy]])) -> LayerDropReport {
        var report = self
        report.baseline.tasks = accuracy.baseline
        for (i, tasks) in accuracy.layers.enumerated() where report.layers.indices.contains(i) {
            report.layers[i].tasks = tasks
        }
        return report
    }
}
