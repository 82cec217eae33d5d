import Foundation
import MixLNAnalysis
import MixLNData

/// Task files as `eval-mc` and `analyze layer-drop --tasks` read them.
enum TaskFiles {
    /// Padded tokens per forward pass when scoring choices (`--batch-tokens`).
    static let defaultBatchTokens = 2048

    /// Reads each of `paths` (its first `limit` questions) and encodes it for a model whose window is
    /// `window` tokens; says on stderr how many unconditional requests were skipped and how many
    /// choices had their context cut to fit the window.
    static func load(_ paths: [String], limit: Int?, tokenizer: any Tokenizer, window: Int) throws -> [EncodedTask] {
        if let limit, limit <= 0 { throw CLIError("--limit must be positive, got \(limit)") }
        let encoder = LoglikelihoodEncoder(tokenizer: tokenizer)
        return try paths.map { path in
            let task = try MultipleChoiceTaskReader.read(path: path, limit: limit)
            let encoded = try EncodedTask(task, encoder: encoder, window: window)
            let choices = encoded.questions.reduce(0) { $0 + $1.choices.count }
            var notes: [String] = []
            if task.skippedUnconditional > 0 { notes.append("\(task.skippedUnconditional) unconditional requests skipped") }
            if encoded.truncatedChoices > 0 {
                notes.append("\(encoded.truncatedChoices) contexts cut from the left to the model's \(window)-token window")
            }
            progressLine("\(task.name): \(encoded.questions.count) questions, \(choices) choices (\(path))"
                         + (notes.isEmpty ? "" : "; " + notes.joined(separator: "; ")))
            return encoded
        }
    }
}

extension StatusLine {
    /// A redrawn "label [████····] done/total unit, ETA" bar on a terminal's stderr (nothing when piped).
    static func bar(_ label: String, unit: String) -> (Int, Int) -> Void {
        guard isatty(STDERR_FILENO) != 0 else { return { _, _ in } }
        let start = Date()
        return { done, total in
            let width = 24, filled = total > 0 ? width * done / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let elapsed = Date().timeIntervalSince(start)
            let eta = done > 0 ? elapsed * Double(total - done) / Double(done) : .nan
            let end = done == total ? " in \(duration(elapsed))\n" : " ETA \(duration(eta))"
            FileHandle.standardError.write(Data("\r\u{1B}[2K\(label) [\(bar)] \(done)/\(total) \(unit)\(end)".utf8))
        }
    }
}
