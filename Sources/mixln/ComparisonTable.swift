import Foundation

/// The table `compare` and `sweep` print on stdout at the end; with tasks, one `acc/acc_norm`
/// column per task (of the model after fine-tuning, when there was fine-tuning).
enum ComparisonTable {
    static func print(_ record: Comparison.Record) {
        let tasks = record.runs.lazy.compactMap { $0.downstream?.tasks }.first?.map(\.task) ?? []
        let headers = tasks.map { "\($0) acc/norm" }
        let widths = headers.map { max($0.count, 11) + 2 }
        Swift.print("run                      status      steps  val ppl     time    " + zip(headers, widths).map(pad).joined())
        for run in record.runs {
            let ppl = run.validationPerplexity.map { fixed($0, 3) } ?? "-"
            let status = run.status == "diverged" ? "diverged@\(run.divergedAt ?? run.steps)" : run.status
            let accuracies = zip(tasks, widths).map { task, width in
                let score = run.downstream?.tasks?.first { $0.task == task }
                return pad(score.map { "\(fixed($0.acc, 3))/\(fixed($0.accNorm, 3))" } ?? "-", width)
            }
            Swift.print(pad(run.name, 24) + " " + pad(status, 11) + " " + pad(String(run.steps), 6) + " " + pad(ppl, 11) + " "
                        + pad(duration(run.elapsedSeconds), 8) + accuracies.joined())
        }
    }

    private static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
}
