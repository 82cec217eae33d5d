import Foundation

/// Vertical bars from a zero line (negative values hang below it) as one inline `<svg>`, one bar per
/// category, each labelled with its value when there is room.
public struct BarChart {
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var categories: [String]
    public var values: [Double]
    public var color: String
    public var width = 380.0
    public var height = 260.0

    public init(title: String, xLabel: String, yLabel: String, categories: [String], values: [Double], color: String) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.categories = categories
        self.values = values
        self.color = color
    }

    public func svg() -> String {
        let left = 58.0, right = 10.0, top = 30.0, bottom = 44.0
        let plotW = width - left - right, plotH = height - top - bottom
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" viewBox=\"0 0 \(SVG.n(width)) \(SVG.n(height))\">"
        out += "<text x=\"4\" y=\"16\" class=\"title\">\(SVG.escape(title))</text>"
        let finite = values.filter(\.isFinite)
        guard !finite.isEmpty, !categories.isEmpty else {
            return out + "<text x=\"\(SVG.n(width / 2))\" y=\"\(SVG.n(height / 2))\" text-anchor=\"middle\" class=\"note\">no finite values to plot</text></svg>"
        }
        var lo = min(0, finite.min()!), hi = max(0, finite.max()!)
        if hi == lo { hi = lo + 1 }
        let pad = (hi - lo) * 0.06
        if lo < 0 { lo -= pad }
        hi += pad
        func py(_ y: Double) -> Double { top + (hi - y) / (hi - lo) * plotH }
        out += "<rect x=\"\(SVG.n(left))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(plotW))\" height=\"\(SVG.n(plotH))\" class=\"frame\"/>"
        for t in SVG.linearTicks(lo, hi) {
            out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(py(t)))\" x2=\"\(SVG.n(left + plotW))\" y2=\"\(SVG.n(py(t)))\" class=\"grid\"/>"
            out += "<text x=\"\(SVG.n(left - 5))\" y=\"\(SVG.n(py(t) + 4))\" text-anchor=\"end\" class=\"tick\">\(SVG.label(t))</text>"
        }
        let slot = plotW / Double(categories.count), barW = slot * 0.7
        for (i, name) in categories.enumerated() {
            let x = left + Double(i) * slot + (slot - barW) / 2
            let v = i < values.count ? values[i] : .nan
            if v.isFinite {
                let y0 = py(max(v, 0)), y1 = py(min(v, 0))
                out += "<rect x=\"\(SVG.n(x))\" y=\"\(SVG.n(y0))\" width=\"\(SVG.n(barW))\" height=\"\(SVG.n(max(y1 - y0, 0.5)))\" fill=\"\(color)\"><title>\(SVG.escape("\(name): \(SVG.label(v))"))</title></rect>"
            } else {
                out += "<text x=\"\(SVG.n(x + barW / 2))\" y=\"\(SVG.n(py(0) - 3))\" text-anchor=\"middle\" class=\"tick\">n/a</text>"
            }
            if categories.count <= 16 || i % 2 == 0 {
                out += "<text x=\"\(SVG.n(x + barW / 2))\" y=\"\(SVG.n(top + plotH + 14))\" text-anchor=\"middle\" class=\"tick\">\(SVG.escape(name))</text>"
            }
        }
        out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(py(0)))\" x2=\"\(SVG.n(left + plotW))\" y2=\"\(SVG.n(py(0)))\" class=\"axis\"/>"
        out += "<text x=\"\(SVG.n(left + plotW / 2))\" y=\"\(SVG.n(height - 8))\" text-anchor=\"middle\" class=\"axislabel\">\(SVG.escape(xLabel))</text>"
        out += "<text transform=\"translate(14 \(SVG.n(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axislabel\">\(SVG.escape(yLabel))</text>"
        return out + "</svg>"
    }
}
