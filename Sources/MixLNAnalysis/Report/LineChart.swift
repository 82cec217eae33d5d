import Foundation

/// A line chart as one inline `<svg>`: axes with round ticks, optional log-scale y, a legend on the
/// right. Points whose y is not finite (or not positive on a log axis) break the line instead of
/// bending the scale. A series may carry a shaded band (such as the spread over seeds) drawn under
/// its line; on a log axis a band edge at or below zero is drawn at the bottom of the plot.
public struct LineChart {
    public struct Series {
        public var name: String
        public var color: String
        public var points: [(x: Double, y: Double)]
        public var dashed = false
        /// Draw a dot at every point (for short series such as one value per layer).
        public var markers = false
        /// A shaded band under the line, from `low` to `high` at each x (empty: none).
        public var band: [(x: Double, low: Double, high: Double)] = []

        public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false, markers: Bool = false) {
            self.name = name
            self.color = color
            self.points = points
            self.dashed = dashed
            self.markers = markers
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var logY = false
    public var series: [Series]
    public var width = 600.0
    public var height = 320.0
    /// Integer ticks only on x (layers, steps).
    public var integerX = false
    /// A legend even for a single series (whose name then says what the line is).
    public var alwaysShowLegend = false

    public init(title: String, xLabel: String, yLabel: String, logY: Bool = false, series: [Series]) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logY = logY
        self.series = series
    }

    private func usable(_ p: (x: Double, y: Double)) -> Bool { p.x.isFinite && p.y.isFinite && (!logY || p.y > 0) }
    private func usable(_ b: (x: Double, low: Double, high: Double)) -> Bool { usable((b.x, b.high)) && b.low.isFinite && b.low <= b.high }

    /// Unbroken stretches of the elements that `keep` accepts.
    private static func stretches<Element>(_ elements: [Element], _ keep: (Element) -> Bool) -> [[Element]] {
        var out: [[Element]] = [[]]
        for e in elements {
            if keep(e) { out[out.count - 1].append(e) } else if !out[out.count - 1].isEmpty { out.append([]) }
        }
        return out.filter { !$0.isEmpty }
    }

    public func svg() -> String {
        let legendWidth = series.count > 1 || (alwaysShowLegend && !series.isEmpty) ? min(170.0, 24 + 7 * Double(series.map(\.name.count).max() ?? 0)) : 0
        let left = 64.0, right = 12 + legendWidth, top = 30.0, bottom = 46.0
        let plotW = width - left - right, plotH = height - top - bottom
        let bandEdges = series.flatMap { $0.band.filter(usable).flatMap { [(x: $0.x, y: $0.high), (x: $0.x, y: $0.low)] } }
        let points = series.flatMap { $0.points.filter(usable) } + bandEdges.filter(usable)
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" viewBox=\"0 0 \(SVG.n(width)) \(SVG.n(height))\">"
        out += "<text x=\"\(SVG.n(left))\" y=\"18\" class=\"title\">\(SVG.escape(title))</text>"
        guard let x0 = points.map(\.x).min(), let x1 = points.map(\.x).max(),
              let yMin = points.map(\.y).min(), let yMax = points.map(\.y).max() else {
            out += "<text x=\"\(SVG.n(width / 2))\" y=\"\(SVG.n(height / 2))\" text-anchor=\"middle\" class=\"note\">no finite values to plot</text></svg>"
            return out
        }
        // y range: padded a little; a flat series gets a band around its value.
        var (lo, hi) = (yMin, yMax)
        if logY {
            if hi / lo < 1.5 { lo /= 1.25; hi *= 1.25 }
        } else {
            let pad = hi > lo ? (hi - lo) * 0.05 : max(abs(hi) * 0.1, 1e-9)
            lo -= pad
            hi += pad
        }
        let (xLo, xHi) = x1 > x0 ? (x0, x1) : (x0 - 1, x1 + 1)
        func px(_ x: Double) -> Double { left + (x - xLo) / (xHi - xLo) * plotW }
        func py(_ y: Double) -> Double {
            let t = logY ? (log10(y) - log10(lo)) / (log10(hi) - log10(lo)) : (y - lo) / (hi - lo)
            return top + (1 - t) * plotH
        }
        // Axes and grid.
        out += "<rect x=\"\(SVG.n(left))\" y=\"\(SVG.n(top))\" width=\"\(SVG.n(plotW))\" height=\"\(SVG.n(plotH))\" class=\"frame\"/>"
        for t in logY ? SVG.logTicks(lo, hi) : SVG.linearTicks(lo, hi) {
            let y = py(t)
            out += "<line x1=\"\(SVG.n(left))\" y1=\"\(SVG.n(y))\" x2=\"\(SVG.n(left + plotW))\" y2=\"\(SVG.n(y))\" class=\"grid\"/>"
            out += "<text x=\"\(SVG.n(left - 5))\" y=\"\(SVG.n(y + 4))\" text-anchor=\"end\" class=\"tick\">\(SVG.label(t))</text>"
        }
        var xTicks = SVG.linearTicks(xLo, xHi, count: 6)
        if integerX { xTicks = xTicks.filter { $0 == $0.rounded() } }
        for t in xTicks {
            let x = px(t)
            out += "<line x1=\"\(SVG.n(x))\" y1=\"\(SVG.n(top + plotH))\" x2=\"\(SVG.n(x))\" y2=\"\(SVG.n(top + plotH + 4))\" class=\"axis\"/>"
            out += "<text x=\"\(SVG.n(x))\" y=\"\(SVG.n(top + plotH + 17))\" text-anchor=\"middle\" class=\"tick\">\(SVG.label(t))</text>"
        }
        out += "<text x=\"\(SVG.n(left + plotW / 2))\" y=\"\(SVG.n(height - 8))\" text-anchor=\"middle\" class=\"axislabel\">\(SVG.escape(xLabel))</text>"
        out += "<text transform=\"translate(14 \(SVG.n(top + plotH / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axislabel\">\(SVG.escape(yLabel + (logY ? " (log)" : "")))</text>"
        // Bands under every line: one polygon per unbroken stretch, along the highs and back along the lows.
        for s in series {
            for stretch in Self.stretches(s.band, usable) {
                let edge = stretch.map { (x: $0.x, y: $0.high) } + stretch.reversed().map { (x: $0.x, y: max($0.low, lo)) }
                let coordinates = edge.map { "\(SVG.n(px($0.x))),\(SVG.n(py($0.y)))" }.joined(separator: " ")
                out += "<polygon points=\"\(coordinates)\" fill=\"\(s.color)\" fill-opacity=\"0.18\" stroke=\"none\" class=\"band\"/>"
            }
        }
        // Lines: one polyline per unbroken stretch of usable points.
        for s in series {
            let dash = s.dashed ? " stroke-dasharray=\"5 3\"" : ""
            for stretch in Self.stretches(s.points, usable) {
                let coordinates = stretch.map { "\(SVG.n(px($0.x))),\(SVG.n(py($0.y)))" }.joined(separator: " ")
                out += "<polyline points=\"\(coordinates)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.6\"\(dash)/>"
                if s.markers || stretch.count == 1 {
                    for p in stretch { out += "<circle cx=\"\(SVG.n(px(p.x)))\" cy=\"\(SVG.n(py(p.y)))\" r=\"2.6\" fill=\"\(s.color)\"/>" }
                }
            }
        }
        // Legend.
        if legendWidth > 0 {
            let lx = width - legendWidth + 4
            for (i, s) in series.enumerated() {
                let y = top + 8 + Double(i) * 16
                guard y < height - 8 else { break }
                let dash = s.dashed ? " stroke-dasharray=\"5 3\"" : ""
                if !s.band.isEmpty {
                    out += "<rect x=\"\(SVG.n(lx))\" y=\"\(SVG.n(y - 5))\" width=\"16\" height=\"10\" fill=\"\(s.color)\" fill-opacity=\"0.18\"/>"
                }
                out += "<line x1=\"\(SVG.n(lx))\" y1=\"\(SVG.n(y))\" x2=\"\(SVG.n(lx + 16))\" y2=\"\(SVG.n(y))\" stroke=\"\(s.color)\" stroke-width=\"2\"\(dash)/>"
                out += "<text x=\"\(SVG.n(lx + 20))\" y=\"\(SVG.n(y + 4))\" class=\"legend\">\(SVG.escape(s.name))</text>"
            }
        }
        return out + "</svg>"
    }
}
