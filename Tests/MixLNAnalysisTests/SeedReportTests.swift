import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import MixLNTrain
@testable import MixLNAnalysis

/// The report's "Schemes over seeds" section, on run folders written here as `mixln compare`
/// writes them: `run.json`, `metrics.jsonl` (a `started` record and the evaluations), `summary.json`.
final class SeedReportTests: XCTestCase {
    var root = ""

    override func setUpWithError() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("seed-report-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: root)
    }

    static let tokensPerStep = 1000

    /// A run directory `root/folder/name` evaluated after updates 10, 20, 30 … with these perplexities
    /// (the last evaluation written twice, as `train` does at the end); `status` nil leaves out summary.json.
    func writeRun(_ folder: String, _ name: String, scheme: String, seed: Int, layers: Int,
                  perplexities: [Double], status: TrainingSummary.Status? = .completed) throws {
        let dir = (root as NSString).appendingPathComponent("\(folder)/\(name)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        func write(_ file: String, _ text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: (dir as NSString).appendingPathComponent(file)))
        }
        try write("run.json", """
            {"norm_plan": {"scheme": "\(scheme)"}, "training": {"seed": \(seed)}, "config": {"num_hidden_layers": \(layers)}, "parameters": 2500000}
            """)
        func eval(_ k: Int) -> String {
            "{\"event\":\"eval\",\"loss\":\(log(perplexities[k])),\"perplexity\":\(perplexities[k]),\"step\":\(10 * (k + 1)),\"tokens\":500}"
        }
        var lines = ["{\"event\":\"started\",\"parameters\":2500000,\"start_step\":0,\"steps\":30,\"tokens_per_step\":\(Self.tokensPerStep),\"train_sequences\":100,\"validation_sequences\":4}"]
        lines += perplexities.indices.map(eval) + (perplexities.isEmpty ? [] : [eval(perplexities.count - 1)])
        try write("metrics.jsonl", lines.joined(separator: "\n") + "\n")
        guard let status else { return }
        let steps = 10 * perplexities.count
        let finalEval = perplexities.last.map { "{\"step\": \(steps), \"loss\": \(log($0)), \"perplexity\": \($0), \"tokens\": 500}" } ?? "null"
        try write("summary.json", """
            {"status": "\(status.rawValue)", "steps": \(steps), "final_eval": \(finalEval), "elapsed_seconds": 5, "tokens": \(steps * Self.tokensPerStep)\
            \(status == .diverged ? ", \"diverged_at\": \(steps)" : "")}
            """)
    }

    /// l12: pre and mix:3 with three seeds each (final perplexities 30/32/34: mean 32, sd 2; 27/28/29:
    /// mean 28, sd 1 — a gap of −4 against a spread of √5 ≈ 2.24), post with one.
    /// l24: pre with three finished seeds (mean 32, sd 2) and a fourth still training; mix:6 with two
    /// (30.5/31.5: mean 31, sd 0.71 — a gap of −1 within a spread of √4.5 ≈ 2.12); a post run that has
    /// logged no evaluation yet.
    func writeStudy() throws -> [ReportRun] {
        for (seed, final) in [30.0, 32, 34].enumerated() {
            try writeRun("l12", "pre-seed\(seed)", scheme: "pre", seed: seed, layers: 12, perplexities: [200, 60, final])
            try writeRun("l24", "pre-seed\(seed)", scheme: "pre", seed: seed, layers: 24, perplexities: [60, 45, final])
        }
        for (seed, final) in [27.0, 28, 29].enumerated() {
            try writeRun("l12", "mix-3-seed\(seed)", scheme: "mix:3", seed: seed, layers: 12, perplexities: [180, 55, final])
        }
        try writeRun("l12", "post-seed0", scheme: "post", seed: 0, layers: 12, perplexities: [300, 70, 40])
        try writeRun("l24", "pre-seed3", scheme: "pre", seed: 3, layers: 24, perplexities: [62, 47], status: nil)
        for (seed, final) in [30.5, 31.5].enumerated() {
            try writeRun("l24", "mix-6-seed\(seed)", scheme: "mix:6", seed: seed, layers: 24, perplexities: [58, 44, final])
        }
        try writeRun("l24", "post-seed0", scheme: "post", seed: 0, layers: 24, perplexities: [], status: nil)
        let folders = ["l12", "l24"].map { (root as NSString).appendingPathComponent($0) }
        return try ReportRun.expand(folders).map { try ReportRun.load($0) }
    }

    /// The group of `scheme` in the folder named `folder`.
    func group(_ groups: [SeedGroup], _ folder: String, _ scheme: String, line: UInt = #line) throws -> SeedGroup {
        try XCTUnwrap(groups.first { ($0.folder as NSString).lastPathComponent == folder && $0.scheme == scheme }, "\(folder) \(scheme)", line: line)
    }

    func testRunsAreGroupedByFolderAndSchemeWithSeedsPooled() throws {
        let groups = SeedGroup.grouping(try writeStudy())
        XCTAssertEqual(groups.map { "\(($0.folder as NSString).lastPathComponent) \($0.scheme) ×\($0.runs.count)" },
                       ["l12 mix:3 ×3", "l12 post ×1", "l12 pre ×3", "l24 mix:6 ×2", "l24 post ×1", "l24 pre ×4"],
                       "two schemes × three seeds are two groups, per folder (runs in the folder's name order)")
        let pre12 = try group(groups, "l12", "pre")
        XCTAssertEqual(Set(pre12.runs.compactMap(\.seed)), [0, 1, 2])
    }

    func testFinalStatisticsAndTheGapVerdictInBothDirections() throws {
        let groups = SeedGroup.grouping(try writeStudy())
        let pre24 = try group(groups, "l24", "pre")
        XCTAssertEqual(pre24.final?.n, 3, "the run still training is not counted")
        XCTAssertEqual(pre24.final?.mean ?? 0, 32, accuracy: 1e-12)
        XCTAssertEqual(pre24.final?.standardDeviation ?? 0, 2, accuracy: 1e-12, "sample standard deviation (n − 1)")
        XCTAssertEqual(pre24.notCounted.map(\.name), ["pre-seed3"])
        XCTAssertNil(try group(groups, "l12", "post").final?.standardDeviation, "one seed has no spread")
        XCTAssertNil(try group(groups, "l24", "post").final, "no finished run")

        let gaps = SeedGap.pairs(groups)
        XCTAssertEqual(gaps.map { "\(($0.mix.folder as NSString).lastPathComponent) \($0.mix.scheme) − \($0.pre.scheme)" },
                       ["l12 mix:3 − pre", "l24 mix:6 − pre"], "each Mix-LN group against the Pre-LN group of its own folder")
        XCTAssertEqual(gaps[0].gap ?? 0, -4, accuracy: 1e-12)
        XCTAssertEqual(gaps[0].spread ?? 0, 5.0.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(gaps[0].exceedsSpread, true)
        XCTAssertEqual(gaps[1].gap ?? 0, -1, accuracy: 1e-12)
        XCTAssertEqual(gaps[1].spread ?? 0, 4.5.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(gaps[1].exceedsSpread, false)

        XCTAssertEqual(SeedGroup.preCounterpart(of: "mix:0.25"), "pre")
        XCTAssertEqual(SeedGroup.preCounterpart(of: "mix:3+gpas"), "pre+gpas")
        XCTAssertEqual(SeedGroup.preCounterpart(of: "scaled-mix:2"), "scaled-pre")
        XCTAssertNil(SeedGroup.preCounterpart(of: "mix-reversed:3"))
        XCTAssertNil(SeedGroup.preCounterpart(of: "post"))
    }

    func testCurvesAreMeansOverSeedsWithABandOnlyForSeveralSeeds() throws {
        let groups = SeedGroup.grouping(try writeStudy())
        let pre12 = try group(groups, "l12", "pre")
        XCTAssertEqual(pre12.curve.map(\.tokens), [10_000, 20_000, 30_000], "tokens seen = step × tokens per update; the repeated last evaluation counts once")
        XCTAssertEqual(pre12.spread, .standardDeviation)
        let last = try XCTUnwrap(pre12.curve.last)
        XCTAssertEqual(last.mean, 32, accuracy: 1e-12)
        XCTAssertEqual(last.low ?? 0, 30, accuracy: 1e-12, "mean − sd")
        XCTAssertEqual(last.high ?? 0, 34, accuracy: 1e-12, "mean + sd")
        let mix24 = try group(groups, "l24", "mix:6")
        XCTAssertEqual(mix24.spread, .range, "two seeds: the band is min–max")
        XCTAssertEqual(mix24.curve.last?.low, 30.5)
        XCTAssertEqual(mix24.curve.last?.high, 31.5)
        let post12 = try group(groups, "l12", "post")
        XCTAssertNil(post12.spread)
        XCTAssertEqual(post12.curve.map(\.mean), [300, 70, 40])
        XCTAssertTrue(post12.curve.allSatisfy { $0.low == nil && $0.high == nil }, "one seed: no band")
        XCTAssertEqual(try group(groups, "l24", "pre").curve.map(\.tokens), [10_000, 20_000], "stops at the last evaluation every seed has reached")

        var run = ReportRun(path: "/x/pre-seed0", name: "pre-seed0", scheme: "pre")
        run.tokensPerStep = 1000
        run.steps = [StepRecord(step: 20, loss: 1, lr: 1e-3, gradNorm: 1, gradNorms: GradientNormSummary(embedding: 0, layers: [], finalNorm: 0, lmHead: 0),
                                tokens: 12_345, tokensPerSecond: 1, elapsedSeconds: 1)]
        XCTAssertEqual(run.tokensSeen(atStep: 20), 12_345, "the step record's own count first")
        XCTAssertEqual(run.tokensSeen(atStep: 10), 10_000)
    }

    /// The chart of one folder: from its title to the end of its `<svg>`.
    func chart(_ html: String, _ title: String) throws -> String {
        let start = try XCTUnwrap(html.range(of: ">\(title): validation perplexity</text>"), title)
        let end = try XCTUnwrap(html.range(of: "</svg>", range: start.upperBound..<html.endIndex))
        return String(html[start.lowerBound..<end.upperBound])
    }

    func testThePageShowsChartsTableVerdictsAndThePapersNumbers() throws {
        let html = HTMLReport(runs: try writeStudy()).html()
        let parser = XMLParser(data: Data(html.utf8))
        XCTAssertTrue(parser.parse(), "the page parses as XML: \(parser.parserError.map(String.init(describing:)) ?? "")")
        XCTAssertTrue(html.contains("<section id=\"seeds\">"))

        let l12 = try chart(html, "l12 (12 layers)")
        XCTAssertEqual(l12.components(separatedBy: "class=\"band\"").count - 1, 2, "bands for pre and mix:3, none for post")
        for legend in ["pre (n=3, ±1 sd)", "mix:3 (n=3, ±1 sd)", "post (n=1)"] { XCTAssertTrue(l12.contains(">\(legend)</text>"), legend) }
        XCTAssertTrue(l12.contains("validation perplexity (log)"), "27 to 300 spans more than 4×: log axis")
        XCTAssertTrue(l12.contains("training tokens seen (thousands)"))
        let l24 = try chart(html, "l24 (24 layers)")
        XCTAssertEqual(l24.components(separatedBy: "class=\"band\"").count - 1, 2)
        XCTAssertTrue(l24.contains(">mix:6 (n=2, min–max)</text>"))
        XCTAssertFalse(l24.contains("(log)"), "30 to 62 spans less than 4×: linear axis")
        XCTAssertFalse(l24.contains(">post"), "the post run without evaluations is not drawn")

        // Table rows: folder, model, scheme, seeds, tokens, mean, sd, Mix − Pre, spread, verdict, not counted.
        let swatch = { (i: Int) in "<span class=\"swatch\" style=\"background:\(SVG.runColor(i))\"></span>" }
        XCTAssertTrue(html.contains("<td class=\"l\">\(swatch(2))pre</td><td>3</td><td>30.0K</td><td>32.00</td><td>2.00</td><td></td><td></td><td class=\"l\"></td>"))
        XCTAssertTrue(html.contains("<td class=\"l\">\(swatch(0))mix:3</td><td>3</td><td>30.0K</td><td>28.00</td><td>1.00</td><td>−4.00</td><td>2.24</td><td class=\"l\">exceeds the seed spread</td>"))
        XCTAssertTrue(html.contains("<td class=\"l\">\(swatch(3))mix:6</td><td>2</td><td>30.0K</td><td>31.00</td><td>0.71</td><td>−1.00</td><td>2.12</td><td class=\"l\">within the seed spread</td>"))
        XCTAssertTrue(html.contains("<td>40.00</td><td>—</td>"), "one seed: sd —")
        XCTAssertTrue(html.contains("pre-seed3: no summary.json (still training?)"))
        XCTAssertTrue(html.contains("|mean<sub>mix</sub> − mean<sub>pre</sub>| &gt; √(sd<sub>pre</sub>² + sd<sub>mix</sub>²)"), "the rule is stated")
        XCTAssertTrue(html.contains("No validation perplexity in metrics.jsonl for l24/post-seed0"), "a run without evaluations is named")

        for model in PaperPerplexities.models {
            XCTAssertTrue(html.contains("<tr><td class=\"l\">\(model.name)</td><td>\(model.layers)</td><td>\(model.tokens)</td>"), model.name)
        }
        XCTAssertTrue(html.contains("<td>34.77</td><td>35.18</td><td>33.12</td>"), "71M: Pre-LN, Post-LN, Mix-LN")
        XCTAssertTrue(html.contains("1409.09 (diverged)"))
    }

    func testThePageRendersWhenNoRunHasValidationMetrics() throws {
        try writeRun("l2", "pre-seed0", scheme: "pre", seed: 0, layers: 2, perplexities: [], status: nil)
        try writeRun("l2", "mix-1-seed0", scheme: "mix:1", seed: 0, layers: 2, perplexities: [], status: nil)
        let runs = try ReportRun.expand([(root as NSString).appendingPathComponent("l2")]).map { try ReportRun.load($0) }
        let html = HTMLReport(runs: runs).html()
        let parser = XMLParser(data: Data(html.utf8))
        XCTAssertTrue(parser.parse(), "the page parses as XML: \(parser.parserError.map(String.init(describing:)) ?? "")")
        XCTAssertFalse(html.contains(": validation perplexity</text>"), "no empty chart")
        XCTAssertTrue(html.contains("No validation perplexity in metrics.jsonl for mix-1-seed0, pre-seed0"))
        XCTAssertTrue(html.contains("mix:1</td><td>0</td><td>—</td><td>—</td><td>—</td><td>—</td><td>—</td><td class=\"l\">—</td><td class=\"l\">mix-1-seed0: no summary.json (still training?)</td>"),
                      "the table still lists the groups, with nothing to count")
    }
}
