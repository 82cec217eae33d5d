import Foundation

/// A grid of coloured cells (viridis) as one inline `<svg>`, with row and column labels and a
/// colour bar. Cells without a value are left light grey.
public struct Heatmap {
    public var title: String
    public var rowLabel: String
    public var columnLabel: String
    public var rowNames: [String]
    public var columnNames: [String]
    /// values[row][column]; nil: no cell.
    public var values: [[Double?]]
    /// The values mapped to the two ends of the colour map.
    public var range: ClosedRange<Double>
    /// Caption under the colour bar's ends.
    public var rangeNames: (low: String, high: String)?
    public var cell = 22.0

    public init(title: String, rowLabel: String, columnLabel: String, rowNames: [String], columnNames: [String],
                values: [[Double?]], range: ClosedRange<Double>, rangeNames: (low: String, high: String)? = nil) {
        self.title = title
        self.rowLabel = rowLabel
        self.columnLabel = columnLabel
        self.rowNames = rowNames
        self.columnNames = columnNames
        self.values = values
        self.range = range
        self.rangeNames = rangeNames
    }

    /// The paper's per-row normalization (the group's plotting script): each row is clipped to its own
    /// 1st–99th percentile, then min-max scaled to [0, 1], so colours compare layers within a row only.
    /// A row whose clipped values are all equal maps to 0.
    public static func rowNormalized(_ values: [[Double?]]) -> [[Double?]] {
        values.map { row in
            let present = row.compactMap { $0 }.filter(\.isFinite).sorted()
            guard !present.isEmpty else { return row.map { _ in nil } }
            let lo = percentile(present, 1), hi = percentile(present, 99)
            return row.map { v in
                guard let v, v.isFinite else { return nil }
                let clipped = min(hi, max(lo, v))
                return hi > lo ? (clipped - lo) / (hi - lo) : 0
            }
        }
    }

    /// The p-th percentile of sorted values, interpolating linearly between ranks (NumPy's default).
    public static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard sorted.count > 1 else { return sorted.first ?? .nan }
        let rank = p / 100 * Double(sorted.count - 1)
        let i = Int(rank.rounded(.down)), f = rank - Double(i)
        return i + 1 < sorted.count ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i]
    }

    public func svg() -> String {
        let left = 46.0, top = 30.0, barHeight = 10.0
        let columns = columnNames.count, rows = rowNames.count
        let width = max(left + Double(columns) * cell + 10, 220), height = top + Double(rows) * cell + 34 + barHeight + 28
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(SVG.n(width))\" height=\"\(SVG.n(height))\" viewBox=\"0 0 \(SVG.n(width)) \(SVG.n(height))\">"
        out += "<text x=\"4\" y=\"16\" class=\"title\">\(SVG.escape(title))</text>"
        let span = range.upperBound - range.lowerBound
        for r in 0..<rows {
            for c in 0..<columns {
                let value = r < values.count && c < values[r].count ? values[r][c] : nil
                let t = value.map { span > 0 ? ($0 - range.lowerBound) / span : 0 }
                let x = left + Double(c) * cell, y = top + Double(r) * cell
                out += "<rect x=\"\(SVG.n(x))\" y=\"\(SVG.n(y))\" width=\"\(SVG.n(cell))\" height=\"\(SVG.n(cell))\" fill=\"\(SVG.viridis(t))\">"
                out += "<title>\(SVG.escape("\(rowLabel) \(rowNames[r]), \(columnLabel) \(columnNames[c]): \(value.map { String(format: "%.4f", $0) } ?? "-")"))</title></rect>"
            }
            out += "<text x=\"\(SVG.n(left - 4))\" y=\"\(SVG.n(top + (Double(r) + 0.5) * cell + 4))\" text-anchor=\"end\" class=\"tick\">\(SVG.escape(rowNames[r]))</text>"
        }
        let labelEvery = max(1, Int((18 / cell).rounded(.up)))
        for c in stride(from: 0, to: columns, by: labelEvery) {
            out += "<text x=\"\(SVG.n(left + (Double(c) + 0.5) * cell))\" y=\"\(SVG.n(top + Double(rows) * cell + 13))\" text-anchor=\"middle\" class=\"tick\">\(SVG.escape(columnNames[c]))</text>"
        }
        out += "<text x=\"\(SVG.n(left + Double(columns) * cell / 2))\" y=\"\(SVG.n(top + Double(rows) * cell + 27))\" text-anchor=\"middle\" class=\"axislabel\">\(SVG.escape(columnLabel))</text>"
        out += "<text transform=\"translate(12 \(SVG.n(top + Double(rows) * cell / 2))) rotate(-90)\" text-anchor=\"middle\" class=\"axislabel\">\(SVG.escape(rowLabel))</text>"
        // Colour bar.
        let barY = top + Double(rows) * cell + 36, barW = width - left - 10, steps = 40
        for i in 0..<steps {
            out += "<rect x=\"\(SVG.n(left + Double(i) * barW / Double(steps)))\" y=\"\(SVG.n(barY))\" width=\"\(SVG.n(barW / Double(steps) + 0.5))\" height=\"\(SVG.n(barHeight))\" fill=\"\(SVG.viridis((Double(i) + 0.5) / Double(steps)))\"/>"
        }
        let names = rangeNames ?? (SVG.label(range.lowerBound), SVG.label(range.upperBound))
        out += "<text x=\"\(SVG.n(left))\" y=\"\(SVG.n(barY + barHeight + 13))\" class=\"tick\">\(SVG.escape(names.low))</text>"
        out += "<text x=\"\(SVG.n(left + barW))\" y=\"\(SVG.n(barY + barHeight + 13))\" text-anchor=\"end\" class=\"tick\">\(SVG.escape(names.high))</text>"
        return out + "</svg>"
    }
}
