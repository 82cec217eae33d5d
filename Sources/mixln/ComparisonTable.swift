import Foundation

/// The table `compare` and `sweep` print on stdout at the end.
enum ComparisonTable {
    static func print(_ record: Comparison.Record) {
        Swift.print("run                      status      steps  val ppl     time")
        for run in record.runs {
            let ppl = run.validationPerplexity.map { fixed($0, 3) } ?? "-"
            let status = run.status == "diverged" ? "diverged@\(run.divergedAt ?? run.steps)" : run.status
            Swift.print(pad(run.name, 24) + " " + pad(status, 11) + " " + pad(String(run.steps), 6) + " " + pad(ppl, 11) + " "
                        + duration(run.elapsedSeconds))
        }
    }

    private static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
}
