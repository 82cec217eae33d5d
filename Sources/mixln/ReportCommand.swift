import ArgumentParser
import Foundation
import MixLNAnalysis

/// `mixln report`: one self-contained HTML page comparing run directories.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML report (inline SVG, no scripts) comparing runs.",
        discussion: "Each argument is a run directory or a `mixln compare` output folder (standing for its runs). Sections whose files are missing say so; the rest is still drawn.")

    @Argument(help: "Run directories, or folders of runs written by `mixln compare`.") var runs: [String]
    @Option(help: "The HTML file to write.") var out: String
    @Option(help: "Page title.") var title: String = "MixLN report"

    func run() throws {
        guard !runs.isEmpty else { throw CLIError("give at least one run directory") }
        let paths = try ReportRun.expand(runs)
        let loaded = try paths.map { try ReportRun.load($0) }
        let html = HTMLReport(runs: loaded, title: title).html()
        do {
            try Data(html.utf8).write(to: URL(fileURLWithPath: out), options: .atomic)
        } catch {
            throw CLIError("cannot write \(out): \((error as NSError).localizedFailureReason ?? error.localizedDescription)")
        }
        FileHandle.standardError.write(Data("wrote \(out) (\(loaded.count) runs, \(html.utf8.count / 1024) KiB)\n".utf8))
    }
}
