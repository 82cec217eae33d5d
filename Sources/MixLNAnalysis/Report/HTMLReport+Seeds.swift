import Foundation

/// The report's section for a multi-seed study: runs grouped by (folder, scheme) with their seeds
/// pooled — per folder, validation perplexity against training tokens as the mean over seeds with
/// the spread as a band; a table of final perplexities (mean, sample standard deviation, whether
/// Mix-LN's gap to Pre-LN exceeds the seed spread); and the paper's numbers beside it.
extension HTMLReport {
    /// The section's id.
    public static let seedsSection = "seeds"
    /// Perplexities that span more than this factor in one chart are drawn on a log axis.
    static let logScaleSpan = 4.0

    func seedsSection() -> String {
        let groups = SeedGroup.grouping(runs)
        var schemes: [String] = []
        for g in groups where !schemes.contains(g.scheme) { schemes.append(g.scheme) }
        var folders: [String] = []
        for g in groups where !folders.contains(g.folder) { folders.append(g.folder) }
        let names = Self.folderNames(folders)
        func color(_ g: SeedGroup) -> String { SVG.runColor(schemes.firstIndex(of: g.scheme)!) }

        var charts = "", notes: [String] = []
        for folder in folders {
            let inFolder = groups.filter { $0.folder == folder }
            let drawn = inFolder.filter { !$0.curve.isEmpty }
            for g in inFolder where g.curveRuns.count > 1 {
                let longest = g.curveRuns.map { $0.validationCurve.last!.tokens }.max()!
                if g.curve.isEmpty {
                    notes.append("\(SVG.escape(g.scheme)) in \(SVG.escape(names[folder]!)): its seeds share no evaluation point, so no mean is drawn")
                } else if g.curve.last!.tokens < longest {
                    notes.append("\(SVG.escape(g.scheme)) in \(SVG.escape(names[folder]!)): drawn to \(Self.count(g.curve.last!.tokens)) tokens, the last evaluation all \(g.curveRuns.count) seeds have reached (the furthest is at \(Self.count(longest)))")
                }
            }
            guard !drawn.isEmpty else { continue }
            let top = drawn.flatMap { $0.curve.map(\.tokens) }.max()!
            let (scale, unit) = top >= 1_000_000 ? (1e6, " (millions)") : top >= 1000 ? (1e3, " (thousands)") : (1.0, "")
            let values = drawn.flatMap { $0.curve.flatMap { [$0.mean, $0.low, $0.high].compactMap { $0 } } }.filter { $0.isFinite && $0 > 0 }
            let logY = (values.max() ?? 1) > Self.logScaleSpan * (values.min() ?? 1)
            let layers = Set(inFolder.flatMap { $0.runs.compactMap(\.layers) }).sorted()
            let depth = layers.isEmpty ? "" : " (" + layers.map(String.init).joined(separator: ", ") + " layers)"
            var chart = LineChart(title: "\(names[folder]!)\(depth): validation perplexity", xLabel: "training tokens seen\(unit)",
                                  yLabel: "validation perplexity", logY: logY, series: drawn.map { g in
                var series = LineChart.Series(name: Self.legend(g), color: color(g), points: g.curve.map { (Double($0.tokens) / scale, $0.mean) }, markers: true)
                series.band = g.curve.compactMap { p in p.low.map { (x: Double(p.tokens) / scale, low: $0, high: p.high!) } }
                return series
            })
            chart.width = 640
            chart.height = 340
            chart.alwaysShowLegend = true
            charts += chart.svg()
        }
        var content = charts.isEmpty ? "" : "<div class=\"row\">\(charts)</div>"
        if !notes.isEmpty { content += "<ul class=\"note\">" + notes.map { "<li>\($0)</li>" }.joined() + "</ul>" }
        content += missing("validation perplexity in metrics.jsonl", runs.filter { $0.validationCurve.isEmpty },
                           hint: "the run has not been evaluated yet, or was trained without a validation split (--val-fraction 0)")
        content += "<h3>Final validation perplexity over seeds, and the paper's</h3>"
        content += "<p class=\"note\">Counted: runs whose summary.json says completed, at their final evaluation; sd is the sample standard deviation (n − 1), “—” for one seed. "
            + "Mix-LN's gap to Pre-LN (same folder) <em>exceeds the seed spread</em> when |mean<sub>mix</sub> − mean<sub>pre</sub>| &gt; √(sd<sub>pre</sub>² + sd<sub>mix</sub>²): a screen for a difference larger than the scatter between seeds, not a significance test (it needs two finished seeds of each). "
            + "The paper's numbers are its C4 validation perplexities for models of 71M–1B parameters trained on 1.1B–5B tokens of another corpus with another tokenizer: context for the direction and size of the effect, not a target.</p>"
        content += "<div class=\"row\">" + seedTable(groups, names: names, color: color) + Self.paperTable() + "</div>"
        return section(Self.seedsSection, "Schemes over seeds",
                       "Runs grouped by folder (one <code>mixln compare</code> folder: one depth of a study) and scheme, seeds pooled. Each line is the mean over seeds of the validation perplexity at every evaluation, against training tokens seen; the shaded band is mean ± one sample standard deviation with three seeds or more, the lowest to the highest seed with two (the legend says which); a single seed is a plain line. The y axis is logarithmic when a chart's values span more than \(Int(Self.logScaleSpan))×.",
                       content)
    }

    /// "pre (n=3, ±1 sd)", "mix:3 (n=2, min–max)", "post (n=1)".
    static func legend(_ g: SeedGroup) -> String {
        let n = g.curveRuns.count
        switch g.spread {
        case .standardDeviation?: return "\(g.scheme) (n=\(n), ±1 sd)"
        case .range?: return "\(g.scheme) (n=\(n), min–max)"
        case nil: return "\(g.scheme) (n=\(n))"
        }
    }

    /// Each folder's last path component, or its last two where two folders share one.
    static func folderNames(_ folders: [String]) -> [String: String] {
        let last = folders.map { ($0 as NSString).lastPathComponent }
        var names: [String: String] = [:]
        for (folder, name) in zip(folders, last) {
            let parent = ((folder as NSString).deletingLastPathComponent as NSString).lastPathComponent
            names[folder] = last.filter { $0 == name }.count > 1 ? "\(parent)/\(name)" : name
        }
        return names
    }

    private func seedTable(_ groups: [SeedGroup], names: [String: String], color: (SeedGroup) -> String) -> String {
        let gaps = SeedGap.pairs(groups)
        var rows = ""
        for g in groups {
            let final = g.final
            let tokens = Set(g.finished.compactMap { $0.run.summary?.tokens }).sorted()
            let layers = g.runs.lazy.compactMap(\.layers).first
            let parameters = g.runs.lazy.compactMap(\.parameters).first
            var model = layers.map { "\($0) layers" } ?? "—"
            if let parameters { model += ", \(Self.count(parameters)) params" }
            var cells: [(String, Bool)] = [  // (content, left-aligned)
                (SVG.escape(names[g.folder]!), true), (model, true),
                ("<span class=\"swatch\" style=\"background:\(color(g))\"></span>" + SVG.escape(g.scheme), true),
                (String(final?.n ?? 0), false),
                (tokens.isEmpty ? "—" : tokens.map(Self.count).joined(separator: "–"), false),
                (final.map { String(format: "%.2f", $0.mean) } ?? (g.diverged.isEmpty ? "—" : "<span class=\"bad\">diverged</span>"), false),
                (final?.standardDeviation.map { String(format: "%.2f", $0) } ?? "—", false),
            ]
            if let gap = gaps.first(where: { $0.mix.folder == g.folder && $0.mix.scheme == g.scheme }) {
                let verdict: String
                switch gap.exceedsSpread {
                case true?: verdict = "exceeds the seed spread"
                case false?: verdict = "within the seed spread"
                case nil: verdict = gap.gap == nil ? "—" : "— (needs 2 seeds of each)"
                }
                cells += [(gap.gap.map { String(format: "%+.2f", $0).replacingOccurrences(of: "-", with: "−") } ?? "—", false),
                          (gap.spread.map { String(format: "%.2f", $0) } ?? "—", false), (verdict, true)]
            } else {
                cells += [("", false), ("", false), ("", true)]
            }
            var left: [String] = g.diverged.map { "\(SVG.escape($0.name)) diverged at step \($0.summary?.divergedAt ?? $0.summary?.steps ?? 0)" }
            left += g.notCounted.map { run in
                let why: String
                switch run.summary?.status {
                case nil: why = "no summary.json (still training?)"
                case .stopped?: why = "stopped before the end"
                default: why = "no validation perplexity"
                }
                return "\(SVG.escape(run.name)): \(why)"
            }
            cells.append((left.joined(separator: "; "), true))
            rows += "<tr>" + cells.map { "<td\($0.1 ? " class=\"l\"" : "")>\($0.0)</td>" }.joined() + "</tr>"
        }
        let header = ["folder", "model", "scheme", "seeds", "tokens/run", "final val. ppl, mean", "sd (n−1)",
                      "Mix − Pre", "spread √(sd²+sd²)", "gap vs spread", "not counted"]
        return "<table class=\"seeds\"><thead><tr>" + header.map { "<th>\($0)</th>" }.joined() + "</tr></thead><tbody>\(rows)</tbody></table>"
    }

    /// The paper's C4 validation perplexities (`PaperPerplexities`), one row per model size.
    static func paperTable() -> String {
        func cell(_ ppl: Double) -> String {
            PaperPerplexities.isDiverged(ppl) ? "<td><span class=\"bad\">\(String(format: "%.2f", ppl)) (diverged)</span></td>" : "<td>\(String(format: "%.2f", ppl))</td>"
        }
        let rows = PaperPerplexities.models.map { m in
            "<tr><td class=\"l\">\(m.name)</td><td>\(m.layers)</td><td>\(m.tokens)</td>" + cell(m.preLN) + cell(m.postLN) + cell(m.mixLN) + "</tr>"
        }.joined()
        let header = ["paper (C4)", "layers", "training tokens", "Pre-LN", "Post-LN", "Mix-LN"]
        return "<table class=\"seeds paper\"><thead><tr>" + header.map { "<th>\($0)</th>" }.joined() + "</tr></thead><tbody>\(rows)</tbody></table>"
    }
}
