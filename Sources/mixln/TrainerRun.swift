import Foundation
import MixLNTrain

/// Runs `trainer` to the end (or `stopAfter` updates, or Ctrl-C), drawing its events on stderr
/// under `label` (unless `showsProgress` is false: data-parallel ranks other than 0) and appending
/// each to the run directory's `metrics.jsonl`; writes `summary.json`.
func runTrainer(_ trainer: Trainer, in runDirectory: RunDirectory, label: String, stopAfter: Int?,
                showsProgress: Bool = true) throws -> TrainingSummary {
    Interrupt.install()
    var progress = ProgressRenderer(label: label)
    var writeError: Error?
    let summary = try trainer.run(stopAfter: stopAfter, shouldStop: { Interrupt.requested }) { event in
        if showsProgress { progress.show(event) }
        do {
            switch event {
            case .step(let record): try runDirectory.appendMetric(event: "step", record)
            case .eval(let record): try runDirectory.appendMetric(event: "eval", record)
            case .diverged(let record): try runDirectory.appendMetric(event: "diverged", record)
            case .checkpoint(let record): try runDirectory.appendMetric(event: "checkpoint", record)
            case .done(let record): try runDirectory.appendMetric(event: "done", record)
            case .started(let record): try runDirectory.appendMetric(event: "started", record)
            }
        } catch { writeError = writeError ?? error }
    }
    if let writeError { throw CLIError("writing metrics failed: \(writeError)") }
    try runDirectory.writeJSON(summary, to: "summary.json")
    return summary
}
