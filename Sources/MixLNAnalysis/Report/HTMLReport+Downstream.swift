import Foundation

/// The report's downstream section, present only when some run has task scores (`compare --tasks`):
/// each run's accuracies per task, their mean ± standard deviation over the seeds of a scheme, and
/// the per-layer accuracy drop of each run's final model.
extension HTMLReport {
    /// The section's id; unlike `sections`, it appears only when there is something to show.
    public static let downstreamSection = "downstream"

    /// Whether any run has task scores or a layer-drop with tasks.
    var hasDownstream: Bool {
        runs.contains { $0.taskScores != nil || $0.layerDrop?.baseline.tasks != nil }
    }

    func downstreamSection() -> String {
        guard hasDownstream else { return "" }
        let scored = runs.enumerated().filter { $0.element.taskScores != nil }
        var tasks: [String] = []
        for (_, run) in scored { for score in run.taskScores! where !tasks.contains(score.task) { tasks.append(score.task) } }
        var content = ""
        if !scored.isEmpty {
            content += scoreTable(scored, tasks: tasks) + seedMeanTable(scored.map(\.element), tasks: tasks)
        }
        content += missing("analysis/eval_mc.json", runs.filter { $0.taskScores == nil },
                           hint: "run <code>mixln compare</code> with <code>--tasks</code> again")
        var charts = ""
        for (i, run) in runs.enumerated() {
            guard let report = run.layerDrop, let baseline = report.baseline.tasks else { continue }
            for full in baseline {
                let deltas = report.layers.map { $0.tasks?.first { $0.task == full.task }?.deltaAcc ?? .nan }
                var chart = BarChart(title: "\(run.name)\(stageNote(run)): \(full.task) Δacc (full model acc \(SVG.label(full.acc)))",
                                     xLabel: "layer removed", yLabel: "Δacc", categories: report.layers.map { String($0.layer) },
                                     values: deltas, color: SVG.runColor(i))
                chart.width = report.layers.count > 16 ? 520 : 380
                charts += chart.svg()
            }
        }
        if !charts.isEmpty {
            content += "<h3>Accuracy drop when a layer is removed</h3><p class=\"note\">Δacc(ℓ) = accuracy without block ℓ − accuracy of the full model, on the same questions, no retraining (negative: the layer helped).</p><div class=\"row\">\(charts)</div>"
        }
        return section(Self.downstreamSection, "Downstream accuracy",
                       "Multiple-choice accuracy of each run's final model (after fine-tuning where there was some), scored as lm-evaluation-harness does: acc picks the choice with the highest log-likelihood, acc_norm the highest per character; ± one standard error.",
                       content)
    }

    /// " (sft model)" when a run's task scores and layer drop are of a fine-tuned model.
    func stageNote(_ run: ReportRun) -> String {
        run.scoredStage.map { " (\($0) model)" } ?? ""
    }

    private func scoreTable(_ scored: [(offset: Int, element: ReportRun)], tasks: [String]) -> String {
        let header = ["run", "scheme", "seed", "model"] + tasks.flatMap { ["\($0) acc", "\($0) acc_norm"] }
        var rows = ""
        for (i, run) in scored {
            var cells = ["<span class=\"swatch\" style=\"background:\(SVG.runColor(i))\"></span>" + SVG.escape(run.name),
                         SVG.escape(run.scheme), run.seed.map { String($0) } ?? "-", SVG.escape(run.scoredStage ?? "pre-trained")]
            for task in tasks {
                let score = run.taskScores!.first { $0.task == task }
                cells += [score.map { Self.plusMinus($0.acc, $0.accStderr) } ?? "-", score.map { Self.plusMinus($0.accNorm, $0.accNormStderr) } ?? "-"]
            }
            rows += "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        return "<table><thead><tr>" + header.map { "<th>\(SVG.escape($0))</th>" }.joined() + "</tr></thead><tbody>\(rows)</tbody></table>"
    }

    /// Mean ± sample standard deviation over the seeds of each scheme, when some scheme has several.
    private func seedMeanTable(_ scored: [ReportRun], tasks: [String]) -> String {
        var schemes: [String] = []
        for run in scored where !schemes.contains(run.scheme) { schemes.append(run.scheme) }
        let groups = schemes.map { scheme in (scheme, scored.filter { $0.scheme == scheme }) }
        guard groups.contains(where: { $0.1.count > 1 }) else { return "" }
        var rows = ""
        for (scheme, group) in groups {
            var cells = [SVG.escape(scheme), String(group.count)]
            for task in tasks {
                let scores = group.compactMap { $0.taskScores?.first { $0.task == task } }
                cells += [Self.meanStd(scores.map(\.acc)), Self.meanStd(scores.map(\.accNorm))]
            }
            rows += "<tr>" + cells.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }
        let header = ["scheme", "seeds"] + tasks.flatMap { ["\($0) acc", "\($0) acc_norm"] }
        return "<h3>Mean ± standard deviation over seeds</h3><table><thead><tr>" + header.map { "<th>\(SVG.escape($0))</th>" }.joined()
            + "</tr></thead><tbody>\(rows)</tbody></table>"
    }

    /// "0.512 ± 0.021" (the error left out when it is not finite).
    static func plusMinus(_ value: Double, _ error: Double) -> String {
        String(format: "%.3f", value) + (error.isFinite ? String(format: " ± %.3f", error) : "")
    }

    /// Mean ± sample standard deviation (n − 1) of `values`; the mean alone for one value, "-" for none.
    static func meanStd(_ values: [Double]) -> String {
        guard let s = SeedStatistics(values) else { return "-" }
        return s.standardDeviation.map { plusMinus(s.mean, $0) } ?? String(format: "%.3f", s.mean)
    }
}
