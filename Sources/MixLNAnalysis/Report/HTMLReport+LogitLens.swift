import Foundation

/// The report's logit-lens section (`analysis/logit_lens.json`): per run, over depth, the loss of the
/// prediction read off each layer's input, its KL from the model's own prediction and how often
/// their top tokens agree — one line per run in each chart.
extension HTMLReport {
    func logitLensSection() -> String {
        let analyzed = runs.enumerated().filter { $0.element.logitLens != nil }
        func chart(_ title: String, _ yLabel: String, logY: Bool = false, _ value: (LogitLensReport.Layer) -> Double) -> String {
            var chart = LineChart(title: title, xLabel: "layer ℓ (L = the model's output)", yLabel: yLabel, logY: logY,
                                  series: analyzed.map { i, run in
                .init(name: run.name, color: SVG.runColor(i), points: run.logitLens!.layers.map { (Double($0.layer), value($0)) }, markers: true)
            })
            chart.integerX = true
            return chart.svg()
        }
        var content = ""
        if !analyzed.isEmpty {
            content += "<div class=\"row\">" + chart("Loss of the lens at each layer", "cross-entropy (nats)") { $0.loss }
                + chart("KL(final ‖ layer)", "KL (nats)", logY: true) { $0.klToFinal }
                + chart("Top-1 agreement with the model", "fraction of tokens") { $0.top1Agreement } + "</div>"
        }
        content += missing("analysis/logit_lens.json", runs.filter { $0.logitLens == nil }, hint: Self.analysisHint)
        return section("logit-lens", "Logit lens",
                       "The final norm and LM head applied to the residual stream entering layer ℓ, as if the model stopped there: cross-entropy against the next token, KL(p<sub>L</sub> ‖ p<sub>ℓ</sub>) from the model's own distribution (0 at ℓ = L, so not drawn on the log axis) and the fraction of tokens whose top token is the model's. A layer after which the lens stops changing adds little to the prediction.",
                       content)
    }
}
