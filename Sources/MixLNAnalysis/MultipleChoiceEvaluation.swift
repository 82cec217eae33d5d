import MixLNModel
import MixLNTensor

/// Accuracy of a model on multiple-choice tasks, and how it answered each question.
public struct MultipleChoiceReport: Codable, Sendable {
    public var tasks: [TaskAccuracy]
    /// One per question, tasks in order.
    public var items: [QuestionScore]

    enum CodingKeys: String, CodingKey { case tasks }  // items go to their own file (`eval-mc --items`)

    public init(tasks: [TaskAccuracy], items: [QuestionScore]) {
        self.tasks = tasks
        self.items = items
    }

    public init(from decoder: Decoder) throws {
        tasks = try decoder.container(keyedBy: CodingKeys.self).decode([TaskAccuracy].self, forKey: .tasks)
        items = []
    }
}

/// lm-evaluation-harness's multiple-choice evaluation: each choice's continuation scored by its
/// summed log-likelihood, the question answered by the argmax (acc) and by the argmax per character
/// (acc_norm).
public enum MultipleChoiceEvaluation {
    /// Scores every choice of every task in one batched pass (see `ContinuationScorer`).
    /// - Parameter progress: (choices scored, total).
    public static func run(_ model: Transformer<Float>, tasks: [EncodedTask], batchTokens: Int,
                           progress: (Int, Int) -> Void = { _, _ in }) throws -> MultipleChoiceReport {
        let choices = tasks.flatMap { $0.questions.flatMap(\.choices) }
        let loglikelihoods = try ContinuationScorer.loglikelihoods(model, choices: choices, batchTokens: batchTokens, progress: progress)
        var offset = 0, accuracies: [TaskAccuracy] = [], items: [QuestionScore] = []
        for task in tasks {
            let scores = task.questions.map { question in
                defer { offset += question.choices.count }
                return MultipleChoiceScoring.score(question, task: task.name,
                                                   loglikelihoods: Array(loglikelihoods[offset..<(offset + question.choices.count)]))
            }
            accuracies.append(MultipleChoiceScoring.accuracy(task: task.name, file: task.path, scores: scores))
            items += scores
        }
        return MultipleChoiceReport(tasks: accuracies, items: items)
    }
}
