import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

final class ReportCommandTests: CLITestCase {
    let sections = ["summary", "seeds", "training", "grad-depth", "grad-time", "angular", "layer-drop", "depth", "logit-lens"]

    func testReportOfACompareFolderHasEverySectionAndIsWellFormed() throws {
        let compare = try mixln(["compare", "--norms", "pre,post,mix", "--model", try tinyConfig(), "--vocab-size", "tokenizer",
                                 "--data", try tinyCorpus(), "--steps", "5", "--batch-size", "4", "--seq-len", "32",
                                 "--eval-every", "2", "--max-tokens", "200", "--out", "cmp"])
        XCTAssertEqual(compare.status, 0, compare.stderr)
        // A plain training run without analyses next to the compare folder.
        let train = try mixln(["train", "--model", try tinyConfig(), "--data", try tinyCorpus(), "--steps", "2", "--batch-size", "2",
                               "--seq-len", "16", "--out", "plain"])
        XCTAssertEqual(train.status, 0, train.stderr)

        let result = try mixln(["report", "cmp", "plain", "--out", "report.html"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let html = try String(contentsOf: workDirectory.appendingPathComponent("report.html"), encoding: .utf8)
        for id in sections { XCTAssertTrue(html.contains("<section id=\"\(id)\">"), "section \(id)") }
        for name in ["pre-seed0", "post-seed0", "mix-seed0", "plain"] { XCTAssertTrue(html.contains(name), name) }
        XCTAssertTrue(html.contains("No analysis/angular.json for plain"), "a run without analyses is named, not fatal")
        XCTAssertTrue(html.contains(">KL(final ‖ layer)</text>") && html.contains(">Loss of the lens at each layer</text>"), "the logit-lens charts")
        XCTAssertGreaterThanOrEqual(html.components(separatedBy: "<svg").count - 1, 10)
        let parser = XMLParser(data: Data(html.utf8))
        XCTAssertTrue(parser.parse(), "well-formed: \(parser.parserError.map { "\($0)" } ?? "") at line \(parser.lineNumber)")
        XCTAssertFalse(html.contains("<script"))
    }

    func testReportOfSomethingThatIsNotARunFailsWithOneLine() throws {
        try FileManager.default.createDirectory(at: workDirectory.appendingPathComponent("empty"), withIntermediateDirectories: true)
        assertCleanFailure(try mixln(["report", "empty", "--out", "r.html"]), mentioning: "not a run directory")
        assertCleanFailure(try mixln(["report", "nowhere", "--out", "r.html"]), mentioning: "nowhere")
    }
}
