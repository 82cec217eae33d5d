import Foundation
import MixLNTrain

/// Shows training events on stderr: a redrawn progress bar on a terminal, one plain line per event otherwise.
struct ProgressRenderer {
    let isTerminal: Bool
    let label: String
    private var totalSteps = 0
    private var startStep = 0

    init(label: String, isTerminal: Bool = isatty(STDERR_FILENO) != 0) {
        self.label = label
        self.isTerminal = isTerminal
    }

    mutating func show(_ event: TrainingEvent) {
        switch event {
        case .started(let info):
            totalSteps = info.steps
            startStep = info.startStep
            if info.startStep > 0 { line("resuming at step \(info.startStep)") }
            line("\(label): \(formatCount(info.parameters)) parameters, \(info.trainSequences) train / "
                 + "\(info.validationSequences) validation sequences, \(info.steps) steps of \(info.tokensPerStep) tokens")
        case .step(let s):
            let remaining = s.secondsRemaining(totalSteps: totalSteps, startStep: startStep)
            let text = "step \(s.step)/\(totalSteps) loss \(fixed(s.loss, 4)) lr \(scientific(s.lr)) "
                + "grad \(fixed(s.gradNorm, 3)) \(Int(s.tokensPerSecond)) tok/s ETA \(duration(remaining))"
            if isTerminal {
                let width = 24, filled = width * s.step / max(totalSteps, 1)
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(label) [\(bar)] \(text)".utf8))
            } else {
                line(text)
            }
        case .eval(let e):
            let metrics = e.metrics.sorted { $0.key < $1.key }.map { " \($0.key) \(fixed($0.value, 4))" }.joined()
            line("eval @ step \(e.step): loss \(fixed(e.loss, 4)) perplexity \(fixed(e.perplexity, 2)) (\(e.tokens) tokens)\(metrics)")
        case .diverged(let d):
            line("diverged at step \(d.step): loss \(d.loss)")
        case .checkpoint(let c):
            if !isTerminal { line("checkpoint @ step \(c.step): \(c.path)") }
        case .done(let summary):
            line("\(summary.status.rawValue): \(summary.steps) steps in \(duration(summary.elapsedSeconds))")
        }
    }

    private func line(_ text: String) {
        let prefix = isTerminal ? "\r\u{1B}[2K" : ""
        FileHandle.standardError.write(Data("\(prefix)\(text)\n".utf8))
    }
}

func fixed(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
func scientific(_ x: Double) -> String { String(format: "%.2e", x) }
func formatCount(_ n: Int) -> String {
    n >= 1_000_000 ? String(format: "%.1fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fK", Double(n) / 1e3) : "\(n)"
}
func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
}
