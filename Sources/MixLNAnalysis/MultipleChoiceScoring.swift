import Foundation

/// How one question was answered: `eval-mc --items` writes one per line.
public struct QuestionScore: Codable, Sendable, Equatable {
    public var task: String
    public var docID: Int
    public var gold: Int
    /// Summed log-likelihood of each choice's continuation.
    public var loglikelihoods: [Double]
    /// argmax of `loglikelihoods` (the first on ties, as numpy's `argmax`).
    public var pred: Int
    /// argmax of `loglikelihoods[i] / characters[i]`.
    public var predNorm: Int

    enum CodingKeys: String, CodingKey { case task, docID = "doc_id", gold, loglikelihoods, pred, predNorm = "pred_norm" }
}

/// Accuracy of a model on one task, as lm-evaluation-harness reports it.
public struct TaskAccuracy: Codable, Sendable, Equatable {
    public var task: String
    /// The task file.
    public var file: String
    /// Questions scored.
    public var n: Int
    /// Fraction of questions whose highest-log-likelihood choice is the gold one.
    public var acc: Double
    /// Standard error of `acc`: the sample standard deviation of the 0/1 outcomes over √n, i.e.
    /// √(acc(1 − acc)/(n − 1)) (the harness's `mean_stderr`); NaN for n < 2.
    public var accStderr: Double
    /// The same with each log-likelihood divided by its answer's length in characters.
    public var accNorm: Double
    public var accNormStderr: Double

    enum CodingKeys: String, CodingKey {
        case task, file, n, acc, accStderr = "acc_stderr", accNorm = "acc_norm", accNormStderr = "acc_norm_stderr"
    }
}

/// lm-evaluation-harness's multiple-choice metrics (`process_results` for `multiple_choice` tasks,
/// aggregated with `mean` and `mean_stderr`).
public enum MultipleChoiceScoring {
    /// Index of the largest value, the first one on ties.
    public static func argmax(_ values: [Double]) -> Int {
        var best = 0
        for i in values.indices.dropFirst() where values[i] > values[best] { best = i }
        return best
    }

    /// The answers to `question` given each choice's summed log-likelihood.
    public static func score(_ question: EncodedQuestion, task: String, loglikelihoods: [Double]) -> QuestionScore {
        precondition(loglikelihoods.count == question.choices.count, "one log-likelihood per choice")
        let normalized = zip(loglikelihoods, question.choices).map { $0 / Double($1.characters) }
        return QuestionScore(task: task, docID: question.docID, gold: question.gold, loglikelihoods: loglikelihoods,
                             pred: argmax(loglikelihoods), predNorm: argmax(normalized))
    }

    /// acc and acc_norm over `scores`, with their standard errors.
    public static func accuracy(task: String, file: String, scores: [QuestionScore]) -> TaskAccuracy {
        let correct = scores.map { $0.pred == $0.gold ? 1.0 : 0.0 }
        let correctNorm = scores.map { $0.predNorm == $0.gold ? 1.0 : 0.0 }
        return TaskAccuracy(task: task, file: file, n: scores.count, acc: mean(correct), accStderr: meanStderr(correct),
                            accNorm: mean(correctNorm), accNormStderr: meanStderr(correctNorm))
    }

    public static func mean(_ values: [Double]) -> Double {
        values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
    }

    /// The harness's `mean_stderr`: `sample_stddev(values) / √n` with the n − 1 denominator; NaN for n < 2.
    public static func meanStderr(_ values: [Double]) -> Double {
        let n = Double(values.count)
        guard values.count >= 2 else { return .nan }
        let mu = mean(values)
        let sampleStddev = (values.reduce(0) { $0 + ($1 - mu) * ($1 - mu) } / (n - 1)).squareRoot()
        return sampleStddev / n.squareRoot()
    }
}
