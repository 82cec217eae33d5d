import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
import MixLNModel
@testable import MixLNTrain
@testable import MixLNAnalysis

final class ReportTests: XCTestCase {
    func testPercentileInterpolatesLikeNumPy() {
        let xs: [Double] = [1, 2, 3, 4, 5]
        XCTAssertEqual(Heatmap.percentile(xs, 0), 1)
        XCTAssertEqual(Heatmap.percentile(xs, 50), 3)
        XCTAssertEqual(Heatmap.percentile(xs, 99), 4.96, accuracy: 1e-12)  // rank 3.96
        XCTAssertEqual(Heatmap.percentile(xs, 1), 1.04, accuracy: 1e-12)
        XCTAssertEqual(Heatmap.percentile([7], 99), 7)
    }

    func testRowNormalizationClipsEachRowToItsPercentilesThenScales() {
        // Row 1: 0…100 with an outlier; clipped to [p1, p99] of that row then mapped to [0, 1].
        let row: [Double?] = [0, 10, 20, 30, 1000, nil]
        let sorted: [Double] = [0, 10, 20, 30, 1000]
        let lo = Heatmap.percentile(sorted, 1), hi = Heatmap.percentile(sorted, 99)
        let out = Heatmap.rowNormalized([row, [5, 5], [nil]])
        XCTAssertEqual(out[0][0]!, 0, accuracy: 1e-12, "the minimum is clipped up to p1, then becomes 0")
        XCTAssertEqual(out[0][2]!, (20 - lo) / (hi - lo), accuracy: 1e-12)
        XCTAssertEqual(out[0][4]!, 1, accuracy: 1e-12)
        XCTAssertNil(out[0][5])
        XCTAssertEqual(out[1], [0, 0], "a constant row maps to 0")
        XCTAssertEqual(out[2], [nil])
    }

    func testTicksAndLabels() {
        XCTAssertEqual(SVG.linearTicks(0, 1, count: 5), [0, 0.2, 0.4, 0.6, 0.8, 1.0].map { $0 }, accuracy: 1e-12)
        XCTAssertEqual(SVG.logTicks(0.5, 30), [0.5, 1, 2, 5, 10, 20])
        XCTAssertLessThanOrEqual(SVG.logTicks(1e-3, 1e13).count, 9, "wide ranges keep few labels")
        XCTAssertEqual(SVG.label(1234), "1234")
        XCTAssertEqual(SVG.label(0.25), "0.25")
        XCTAssertEqual(SVG.label(2e-5), "2.0e-05")
        XCTAssertEqual(SVG.escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;")
    }

    /// A run with every file, made in memory, and one with nothing but its name.
    func runs() -> [ReportRun] {
        let L = 3
        var full = ReportRun(path: "/tmp/a/pre-seed0", name: "pre-seed0", scheme: "pre")
        full.seed = 0
        full.summary = TrainingSummary(status: .completed, steps: 4, finalLoss: 2, finalEval: EvalRecord(step: 4, loss: 2, perplexity: 7.39, tokens: 100),
                                       divergedAt: nil, elapsedSeconds: 12, tokens: 400)
        full.steps = (1...4).map { s in
            StepRecord(step: s, loss: 3 - Double(s) / 4, lr: 1e-3, gradNorm: 1,
                       gradNorms: GradientNormSummary(embedding: 0.1, layers: (0..<L).map { 1 / Double($0 + s) }, finalNorm: 0.1, lmHead: 0.2),
                       tokens: 100 * s, tokensPerSecond: 100, elapsedSeconds: Double(s))
        }
        full.evals = [EvalRecord(step: 2, loss: 2.5, perplexity: 12.2, tokens: 100), EvalRecord(step: 4, loss: 2, perplexity: 7.39, tokens: 100)]
        let layers = (0..<L).map { "{\"layer\": \($0), \"grad_norm\": \(0.1 * Double($0 + 1)), \"attention\": 0.1, \"mlp\": 0.1, \"norms\": 0.01}" }
        let gradJSON = "{\"loss\": 2, \"tokens\": 100, \"embedding\": 0.1, \"final_norm\": 0.1, \"lm_head\": 0.2, \"total\": 1, \"parameters\": {}, \"layers\": [\(layers.joined(separator: ","))]}"
        full.gradNorms = try? JSONDecoder().decode(GradientNormReport.self, from: Data(gradJSON.utf8))
        full.angular = AngularDistanceReport(tokens: 10, distances: (0..<L).flatMap { l in (1...(L - l)).map { .init(layer: l, n: $0, distance: 0.1 * Double(l + $0)) } })
        full.layerDrop = LayerDropReport(baseline: .init(loss: 2, perplexity: 7.39),
                                         layers: (0..<L).map { .init(layer: $0, loss: 2.1, perplexity: 8, deltaPerplexity: Double($0) - 0.5) }, tokens: 100)
        full.depth = DepthStatisticsReport(tokens: 10, layers: (0..<L).map {
            .init(layer: $0, inputRMS: 1 + Double($0), mlpInputRMS: 1.5 + Double($0), attentionOutputRMS: 0.1, attentionUpdateRMS: 0.1,
                  mlpOutputRMS: 0.2, mlpUpdateRMS: 0.2)
        }, outputRMS: 4)
        full.logitLens = LogitLensReport(tokens: 10, layers: (0...L).map { l -> LogitLensReport.Layer in
            let x = Double(l)
            return .init(layer: l, loss: 3 - 0.2 * x, top1Agreement: l == L ? 1 : 0.3 * x, klToFinal: l == L ? 0 : 1 / (x + 1))
        })
        var diverged = ReportRun(path: "/tmp/b/post-seed0", name: "post-seed0", scheme: "post")
        diverged.summary = TrainingSummary(status: .diverged, steps: 1, finalLoss: .nan, finalEval: nil, divergedAt: 2, elapsedSeconds: 1, tokens: 100)
        return [full, diverged]
    }

    func testReportIsWellFormedWithEverySectionAndSaysWhatIsMissing() throws {
        XCTAssertNotNil(runs()[0].gradNorms)
        let html = HTMLReport(runs: runs(), title: "A & B").html()
        let parser = XMLParser(data: Data(html.utf8))
        XCTAssertTrue(parser.parse(), "the page parses as XML: \(parser.parserError.map(String.init(describing:)) ?? "")")
        for id in HTMLReport.sections { XCTAssertTrue(html.contains("<section id=\"\(id)\">"), id) }
        XCTAssertTrue(html.contains("A &amp; B"))
        XCTAssertTrue(html.contains("diverged at step 2"))
        for file in ["analysis/grad_norms.json", "analysis/angular.json", "analysis/layer_drop.json", "analysis/depth.json",
                     "analysis/logit_lens.json"] {
            XCTAssertTrue(html.contains("No \(file) for post-seed0 "), file)
        }
        XCTAssertEqual(html.components(separatedBy: "<svg").count - 1, html.components(separatedBy: "</svg>").count - 1)
        XCTAssertFalse(html.contains("<script"), "no scripts")
        XCTAssertFalse(html.contains("http://") && html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http://"),
                       "nothing fetched from the network")
    }

    func testDownstreamSectionShowsScoresSeedMeansAndAccuracyDropsOnlyWhenThereAreScores() throws {
        let plain = HTMLReport(runs: runs()).html()
        XCTAssertFalse(plain.contains("id=\"downstream\""), "no downstream section without scores")
        XCTAssertFalse(plain.contains("Downstream accuracy"), "nor a link to it")

        func scores(_ acc: Double) -> [TaskAccuracy] {
            [TaskAccuracy(task: "arc_easy", file: "arc.jsonl", n: 100, acc: acc, accStderr: 0.05, accNorm: acc / 2, accNormStderr: 0.04)]
        }
        var seeded = runs()
        seeded[0].taskScores = scores(0.30)
        seeded[0].scoredCheckpoint = "sft/checkpoints/step-000010"
        seeded[0].layerDrop = seeded[0].layerDrop?.adding(accuracy: (
            baseline: scores(0.30), layers: (0..<3).map { [LayerTaskAccuracy(task: "arc_easy", acc: 0.25, accNorm: 0.1, deltaAcc: -0.05 * Double($0), deltaAccNorm: 0)] }))
        var second = seeded[0]
        second.name = "pre-seed1"
        second.seed = 1
        second.taskScores = scores(0.40)
        seeded.append(second)
        let html = HTMLReport(runs: seeded).html()
        let parser = XMLParser(data: Data(html.utf8))
        XCTAssertTrue(parser.parse(), "the page parses as XML: \(parser.parserError.map(String.init(describing:)) ?? "")")
        XCTAssertTrue(html.contains("<section id=\"downstream\">"))
        XCTAssertTrue(html.contains("<th>arc_easy acc</th><th>arc_easy acc_norm</th>"))
        XCTAssertTrue(html.contains("<td>0.300 ± 0.050</td><td>0.150 ± 0.040</td>"), "each run's scores with their standard errors")
        // Over the two seeds of `pre`: acc 0.30 and 0.40 → 0.350 ± 0.071 (sample standard deviation).
        XCTAssertTrue(html.contains("<td>pre</td><td>2</td><td>0.350 ± 0.071</td><td>0.175 ± 0.035</td>"), "mean ± std over seeds")
        XCTAssertTrue(html.contains("pre-seed0 (sft model): arc_easy Δacc"), "an accuracy-drop chart per run and task")
        XCTAssertTrue(html.contains("No analysis/eval_mc.json for post-seed0"))
        XCTAssertEqual(html.components(separatedBy: "Δacc (full model acc").count - 1, 2, "no chart for the run without a layer drop with tasks")
    }

    /// One chart per lens metric with a line per analyzed run; none at all when no run has a lens.
    func testLogitLensChartsOnlyForRunsThatHaveIt() throws {
        let html = HTMLReport(runs: runs()).html()
        let titles = ["Loss of the lens at each layer", "KL(final ‖ layer)", "Top-1 agreement with the model"]
        for title in titles { XCTAssertEqual(html.components(separatedBy: ">\(title)</text>").count - 1, 1, title) }
        let section = try XCTUnwrap(html.components(separatedBy: "<section id=\"logit-lens\">").last?.components(separatedBy: "</section>").first)
        XCTAssertEqual(section.components(separatedBy: "<svg").count - 1, 3)
        XCTAssertEqual(section.components(separatedBy: "<circle").count - 1, 4 + 3 + 4, "a marker per layer ℓ = 0…3 (KL 0 at ℓ = L is off the log axis)")

        var bare = runs()
        bare[0].logitLens = nil
        let without = HTMLReport(runs: bare).html()
        let parser = XMLParser(data: Data(without.utf8))
        XCTAssertTrue(parser.parse(), "the page parses as XML: \(parser.parserError.map(String.init(describing:)) ?? "")")
        XCTAssertTrue(without.contains("<section id=\"logit-lens\">"))
        for title in titles { XCTAssertFalse(without.contains(title), "no empty chart: \(title)") }
        XCTAssertTrue(without.contains("No analysis/logit_lens.json for pre-seed0, post-seed0"))
    }

    func testClashingRunNamesAreQualifiedByTheirFolder() {
        var runs = runs()
        runs[1].name = "pre-seed0"
        let report = HTMLReport(runs: runs)
        XCTAssertEqual(report.runs.map(\.name), ["a/pre-seed0", "b/pre-seed0"])
    }
}

private func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "\(a) vs \(b)", file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, "\(a) vs \(b)", file: file, line: line) }
}
