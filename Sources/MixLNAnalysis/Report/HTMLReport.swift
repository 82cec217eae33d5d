import Foundation
import MixLNTrain

/// One self-contained HTML page (inline CSS and SVG; no scripts, fonts or network) comparing runs:
/// the final table, each scheme's validation perplexity over seeds beside the paper's, loss and
/// validation curves, gradient norm against depth and over training, angular-distance heatmaps, the
/// perplexity drop when each layer is removed, residual RMS against depth and the logit lens; with
/// task scores, downstream accuracy and its drop per removed layer. A section whose data is missing
/// for some runs says so and shows the others.
public struct HTMLReport {
    /// Section ids, in page order (tests and links rely on them).
    public static let sections = ["summary", "seeds", "training", "grad-depth", "grad-time", "angular", "layer-drop", "depth", "logit-lens"]

    public var runs: [ReportRun]
    public var title = "MixLN report"
    /// Most points drawn per training curve (longer runs are thinned evenly; the last point is kept).
    public var maxCurvePoints = 400

    /// Runs whose directory names clash are shown as `parent/name`.
    public init(runs: [ReportRun], title: String = "MixLN report") {
        var runs = runs
        let names = runs.map(\.name)
        for i in runs.indices where names.filter({ $0 == runs[i].name }).count > 1 {
            let parent = (((runs[i].path as NSString).standardizingPath as NSString).deletingLastPathComponent as NSString).lastPathComponent
            runs[i].name = "\(parent)/\(runs[i].name)"
        }
        self.runs = runs
        self.title = title
    }

    private func color(_ i: Int) -> String { SVG.runColor(i) }

    public func html() -> String {
        var body = "<h1>\(SVG.escape(title))</h1>"
        body += "<p class=\"note\">\(runs.count) run\(runs.count == 1 ? "" : "s"): \(runs.map { SVG.escape($0.path) }.joined(separator: ", "))</p>"
        var links = zip(Self.sections, ["Final table", "Schemes over seeds", "Training curves", "Gradient norm vs layer", "Gradient norm over training",
                                        "Angular distance", "Layer removal ΔP", "Residual RMS vs depth", "Logit lens"]).map { ($0, $1) }
        if hasDownstream { links.insert((Self.downstreamSection, "Downstream accuracy"), at: 2) }
        body += "<nav>" + links.map { "<a href=\"#\($0)\">\($1)</a>" }.joined(separator: " · ") + "</nav>"
        body += summarySection() + seedsSection() + downstreamSection() + trainingSection() + gradientDepthSection() + gradientTimeSection()
        body += angularSection() + layerDropSection() + depthSection() + logitLensSection()
        let problems = runs.flatMap { run in run.problems.map { "\(run.name): \($0)" } }
        if !problems.isEmpty {
            body += "<section><h2>Files that could not be read</h2><ul>" + problems.map { "<li>\(SVG.escape($0))</li>" }.joined() + "</ul></section>"
        }
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"/><title>\(SVG.escape(title))</title>
            <style>\(Self.css)</style></head>
            <body>\(body)</body></html>

            """
    }

    // MARK: - Sections

    func section(_ id: String, _ heading: String, _ intro: String, _ content: String) -> String {
        "<section id=\"\(id)\"><h2>\(heading)</h2><p class=\"intro\">\(intro)</p>\(content)</section>"
    }

    /// "No X for runs a, b" when some runs lack a file, or "" when none do.
    func missing(_ what: String, _ lacking: [ReportRun], hint: String) -> String {
        guard !lacking.isEmpty else { return "" }
        let names = lacking.map { SVG.escape($0.name) }.joined(separator: ", ")
        return "<p class=\"missing\">No \(what) for \(names) — \(hint).</p>"
    }

    static let analysisHint = "run <code>mixln compare</code> again (it analyzes finished runs) or <code>mixln analyze</code> on the checkpoint"

    private func summarySection() -> String {
        var rows = ""
        for (i, run) in runs.enumerated() {
            let s = run.summary
            let status: String
            switch s?.status {
            case .diverged?: status = "<span class=\"bad\">diverged at step \(s?.divergedAt ?? s?.steps ?? 0)</span>"
            case let other?: status = other.rawValue
            case nil: status = "<span class=\"missing\">no summary.json</span>"
            }
            let ppl: Double? = s?.finalEval?.perplexity ?? run.evals.last?.perplexity
            let loss: Double? = s?.finalEval?.loss ?? run.evals.last?.loss
            let steps: Int? = s?.steps ?? run.steps.last?.step
            let tokens: Int? = s?.tokens ?? run.steps.last?.tokens
            let seconds: Double? = s?.elapsedSeconds ?? run.steps.last?.elapsedSeconds
            var cells: [String] = []
            cells.append("<span class=\"swatch\" style=\"background:\(color(i))\"></span>" + SVG.escape(run.name))
            cells.append(SVG.escape(run.scheme))
            cells.append(run.seed.map { String($0) } ?? "-")
            cells.append(ppl.map { String(format: "%.3f", $0) } ?? "-")
            cells.append(loss.map { String(format: "%.4f", $0) } ?? "-")
            cells.append(status)
            cells.append(steps.map { String($0) } ?? "-")
            cells.append(tokens.map { Self.count($0) } ?? "-")
            cells.append(seconds.map { Self.duration($0) } ?? "-")
            cells.append(run.parameters.map { Self.count($0) } ?? "-")
            rows += "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        let header = ["run", "scheme", "seed", "validation perplexity", "validation loss", "status", "steps", "tokens", "wall time", "parameters"]
        let table = "<table><thead><tr>" + header.map { "<th>\($0)</th>" }.joined() + "</tr></thead><tbody>\(rows)</tbody></table>"
        return section("summary", "Final table",
                       "Validation perplexity at the end of training (exp of the mean loss over every non-padding validation token). A diverged run stops at its first non-finite loss; its analyses use the checkpoint saved then.",
                       table)
    }

    private func trainingSection() -> String {
        let withSteps = runs.enumerated().filter { !$0.element.steps.isEmpty }
        let loss = LineChart(title: "Training loss", xLabel: "step", yLabel: "loss", series: withSteps.map { i, run in
            .init(name: run.name, color: color(i), points: thin(run.steps.map { (Double($0.step), $0.loss) }))
        })
        let withEvals = runs.enumerated().filter { !$0.element.evals.isEmpty }
        var ppl = LineChart(title: "Validation perplexity", xLabel: "step", yLabel: "perplexity", logY: true, series: withEvals.map { i, run in
            .init(name: run.name, color: color(i), points: run.evals.map { (Double($0.step), $0.perplexity) }, markers: true)
        })
        ppl.integerX = true
        let charts = (withSteps.isEmpty ? "" : loss.svg()) + (withEvals.isEmpty ? "" : ppl.svg())
        let content = (charts.isEmpty ? "" : "<div class=\"row\">\(charts)</div>")
            + missing("training steps in metrics.jsonl", runs.filter { $0.steps.isEmpty }, hint: "the run has not logged a step")
            + missing("validation evaluations", runs.filter { $0.evals.isEmpty }, hint: "train with a validation split (--val-fraction > 0)")
        return section("training", "Training curves", "Loss of every update (mean over the micro-batches) and validation perplexity at each evaluation.", content)
    }

    private func gradientDepthSection() -> String {
        let analyzed = runs.enumerated().filter { $0.element.gradNorms != nil }
        var chart = LineChart(title: "Gradient norm per layer (analysis, validation data)", xLabel: "layer", yLabel: "‖∇ layer parameters‖",
                              logY: true, series: analyzed.map { i, run in
            .init(name: run.name, color: color(i), points: run.gradNorms!.norms.layers.map { (Double($0.layer), $0.gradNorm) }, markers: true)
        })
        chart.integerX = true
        var content = (analyzed.isEmpty ? "" : "<div class=\"row\">\(chart.svg())</div>")
            + missing("analysis/grad_norms.json", runs.filter { $0.gradNorms == nil }, hint: Self.analysisHint)
        // From the training log: a few steps of each run, light (early) to dark (late).
        var small = ""
        for (i, run) in runs.enumerated() where !run.steps.isEmpty {
            let chosen = Self.chosenSteps(run.steps.count).map { run.steps[$0] }
            var chart = LineChart(title: "\(run.name): training batches", xLabel: "layer", yLabel: "grad norm", logY: true,
                                  series: chosen.enumerated().map { k, s in
                .init(name: "step \(s.step)", color: Self.shade(color(i), Double(k + 1) / Double(chosen.count)),
                      points: s.gradNorms.layers.enumerated().map { (Double($0.offset), $0.element) }, markers: true)
            })
            chart.integerX = true
            chart.width = 420
            chart.height = 260
            small += chart.svg()
        }
        if !small.isEmpty { content += "<h3>From the training log at chosen steps</h3><div class=\"row\">\(small)</div>" }
        return section("grad-depth", "Gradient norm against layer",
                       "L2 norm of the gradient of all parameters of each decoder layer. The paper's expectation: Pre-LN falls with depth, Post-LN rises with depth (small early layers), Mix-LN is flatter.",
                       content)
    }

    private func gradientTimeSection() -> String {
        var charts = ""
        for run in runs where !run.steps.isEmpty {
            let L = run.steps[0].gradNorms.layers.count
            let series = (0..<L).map { l in
                LineChart.Series(name: "layer \(l)", color: SVG.viridis(L > 1 ? Double(l) / Double(L - 1) * 0.9 : 0),
                                 points: thin(run.steps.map { (Double($0.step), l < $0.gradNorms.layers.count ? $0.gradNorms.layers[l] : .nan) }))
            }
            var chart = LineChart(title: "\(run.name): per-layer gradient norm", xLabel: "step", yLabel: "grad norm", logY: true, series: series)
            chart.width = 480
            chart.height = 300
            charts += chart.svg()
        }
        let content = (charts.isEmpty ? "" : "<div class=\"row\">\(charts)</div>")
            + missing("per-step gradient norms (metrics.jsonl)", runs.filter { $0.steps.isEmpty }, hint: "the run has not logged a step")
        return section("grad-time", "Each layer's gradient norm over training",
                       "Per-layer gradient norm of every update (before clipping), dark = first layer, yellow = last.", content)
    }

    private func angularSection() -> String {
        let analyzed = runs.filter { $0.angular != nil }
        let tables = analyzed.map { run -> (ReportRun, [[Double?]], Int) in
            let L = run.angular!.distances.map { $0.layer + $0.n }.max() ?? 0
            var grid = Array(repeating: Array(repeating: Double?.none, count: L), count: L)  // [n-1][ℓ]
            for e in run.angular!.distances where e.n >= 1 && e.n <= L && e.layer < L { grid[e.n - 1][e.layer] = e.distance }
            return (run, grid, L)
        }
        let top = tables.flatMap { $0.1.flatMap { $0 } }.compactMap { $0 }.filter(\.isFinite).max() ?? 1
        var normalized = "", absolute = ""
        for (run, grid, L) in tables {
            func heatmap(_ values: [[Double?]], _ title: String, _ range: ClosedRange<Double>, _ names: (String, String)?) -> String {
                var h = Heatmap(title: title, rowLabel: "n", columnLabel: "layer ℓ", rowNames: (1...max(L, 1)).map(String.init),
                                columnNames: (0..<L).map(String.init), values: values, range: range, rangeNames: names.map { (low: $0.0, high: $0.1) })
                h.cell = L > 16 ? 14 : 22
                return h.svg()
            }
            normalized += heatmap(Heatmap.rowNormalized(grid), run.name, 0...1, ("row min", "row max"))
            absolute += heatmap(grid, run.name, 0...max(top, 1e-9), nil)
        }
        var content = ""
        if !tables.isEmpty {
            content += "<h3>Per-row normalized (as the paper plots it)</h3><p class=\"note\">Each row n is clipped to its own 1st–99th percentile and min-max scaled: colours compare layers within a row, not across rows or runs.</p><div class=\"row\">\(normalized)</div>"
            content += "<h3>Absolute scale (shared by all runs)</h3><p class=\"note\">d = arccos(cos(x<sub>ℓ</sub>, x<sub>ℓ+n</sub>))/π averaged over tokens, from 0 to \(SVG.label(top)) (the largest value in any run).</p><div class=\"row\">\(absolute)</div>"
        }
        content += missing("analysis/angular.json", runs.filter { $0.angular == nil }, hint: Self.analysisHint)
        return section("angular", "Angular distance between layer inputs",
                       "Row n, column ℓ: distance between the input of layer ℓ and of layer ℓ+n (ℓ+n = L is the last layer's output). Dark = similar. Under Pre-LN deep layers look alike (small distances to the lower right).",
                       content)
    }

    private func layerDropSection() -> String {
        var charts = ""
        for (i, run) in runs.enumerated() {
            guard let report = run.layerDrop else { continue }
            var chart = BarChart(title: "\(run.name)\(stageNote(run)): ΔP (full model ppl \(SVG.label(report.baseline.perplexity)))", xLabel: "layer removed",
                                 yLabel: "ΔP", categories: report.layers.map { String($0.layer) },
                                 values: report.layers.map(\.deltaPerplexity), color: color(i))
            chart.width = report.layers.count > 16 ? 520 : 380
            charts += chart.svg()
        }
        let content = (charts.isEmpty ? "" : "<div class=\"row\">\(charts)</div>")
            + missing("analysis/layer_drop.json", runs.filter { $0.layerDrop == nil }, hint: Self.analysisHint)
        return section("layer-drop", "Performance drop when a layer is removed",
                       "ΔP(ℓ) = perplexity without block ℓ − perplexity of the full model, no retraining; each chart has its own scale. Pre-LN: removing deep layers barely matters; Post-LN: the reverse.",
                       content)
    }

    private func depthSection() -> String {
        let analyzed = runs.enumerated().filter { $0.element.depth != nil }
        // The stream at every sublayer boundary: layer l's attention input at l, its MLP input at l + ½, the output at L.
        var stream = LineChart(title: "Residual stream RMS", xLabel: "layer (x.5 = MLP input)", yLabel: "RMS", logY: true,
                               series: analyzed.map { i, run in
            let d = run.depth!
            let points = d.layers.flatMap { [(Double($0.layer), $0.inputRMS), (Double($0.layer) + 0.5, $0.mlpInputRMS)] }
                + [(Double(d.layers.count), d.outputRMS)]
            return .init(name: run.name, color: color(i), points: points, markers: true)
        })
        stream.integerX = true
        var updates = LineChart(title: "Sublayer update RMS (solid: attention, dashed: MLP)", xLabel: "layer", yLabel: "RMS", logY: true, series: [])
        updates.integerX = true
        for (i, run) in analyzed {
            let d = run.depth!
            updates.series.append(.init(name: "\(run.name) attn", color: color(i), points: d.layers.map { (Double($0.layer), $0.attentionUpdateRMS) }, markers: true))
            updates.series.append(.init(name: "\(run.name) mlp", color: color(i), points: d.layers.map { (Double($0.layer), $0.mlpUpdateRMS) }, dashed: true, markers: true))
        }
        let content = (analyzed.isEmpty ? "" : "<div class=\"row\">\(stream.svg())\(updates.svg())</div>")
            + missing("analysis/depth.json", runs.filter { $0.depth == nil }, hint: Self.analysisHint)
        return section("depth", "Residual RMS against depth",
                       "Mean over real tokens of each token's RMS. Pre-LN's stream grows with depth while each update stays small, so deep layers change the stream less; Post-LN renormalizes the stream after every sublayer.",
                       content)
    }

    // MARK: - Helpers

    /// At most `maxCurvePoints` points, evenly spaced, always keeping the last.
    private func thin(_ points: [(Double, Double)]) -> [(x: Double, y: Double)] {
        guard points.count > maxCurvePoints else { return points.map { (x: $0.0, y: $0.1) } }
        let stride = Double(points.count - 1) / Double(maxCurvePoints - 1)
        return (0..<maxCurvePoints).map { k in
            let p = points[min(points.count - 1, Int((Double(k) * stride).rounded()))]
            return (x: p.0, y: p.1)
        }
    }

    /// Indices of a few steps to show: the first, ~10%, ~50% and the last (distinct).
    static func chosenSteps(_ count: Int) -> [Int] {
        guard count > 0 else { return [] }
        var seen = Set<Int>()
        return [0, count / 10, count / 2, count - 1].filter { seen.insert($0).inserted }
    }

    /// `hex` mixed with white: t = 1 is the colour itself, t → 0 nearly white.
    static func shade(_ hex: String, _ t: Double) -> String {
        let v = Int(hex.dropFirst(), radix: 16) ?? 0
        let f = 0.25 + 0.75 * t
        func mix(_ c: Int) -> Int { Int((255 - (255 - Double(c)) * f).rounded()) }
        return String(format: "#%02x%02x%02x", mix(v >> 16 & 255), mix(v >> 8 & 255), mix(v & 255))
    }

    static func count(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.1fK", Double(n) / 1e3) : "\(n)"
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "-" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    static let css = """
        body{font:14px/1.45 -apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1320px;color:#222;padding:0 16px}
        h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 4px;border-bottom:1px solid #ddd;padding-bottom:3px}h3{font-size:15px;margin:14px 0 2px}
        nav a{color:#0060a0;text-decoration:none}.note,.intro{color:#555;margin:4px 0 8px}.missing{color:#9a5b00;background:#fff6e5;padding:4px 8px;border-radius:3px}
        .bad{color:#b00020;font-weight:600}table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 10px;text-align:right}
        th{background:#f4f4f4;text-align:left}td:first-child,td:nth-child(2),td:nth-child(6){text-align:left}.swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}
        table.seeds td{text-align:right;white-space:nowrap}table.seeds td.l{text-align:left}table.seeds td:last-child{white-space:normal}
        .row{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start}svg.chart{background:#fff;font-size:11px}
        svg .title{font-size:13px;font-weight:600}svg .tick{fill:#444;font-size:10.5px}svg .axislabel{fill:#333;font-size:11.5px}svg .legend{fill:#222;font-size:11px}
        svg .note{fill:#888;font-size:12px}svg .frame{fill:none;stroke:#bbb}svg .grid{stroke:#eee}svg .axis{stroke:#888}
        """
}
