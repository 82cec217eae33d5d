import Foundation

/// Small helpers for writing inline SVG by hand: escaping, number formatting, colours and axis ticks.
public enum SVG {
    /// Text safe inside XML content and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    /// A coordinate with two decimals (enough for screen pixels, short in the file).
    static func n(_ x: Double) -> String { String(format: "%.2f", x) }

    /// A tick or value label: 3 significant digits, scientific outside [1e-3, 1e5).
    public static func label(_ x: Double) -> String {
        guard x.isFinite else { return x.isNaN ? "NaN" : (x > 0 ? "∞" : "−∞") }
        if x == 0 { return "0" }
        let a = abs(x)
        if a >= 1e5 || a < 1e-3 { return String(format: "%.1e", x) }
        var s = String(format: a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : a >= 1 ? "%.2f" : "%.3f", x)
        if s.contains(".") {
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
        }
        return s
    }

    /// Distinct colours for runs, cycled after 12: Okabe–Ito (readable for colour-blind readers, its
    /// pale yellow left out for contrast on white), then Paul Tol's muted set.
    public static func runColor(_ i: Int) -> String {
        let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
                       "#882255", "#44AA99", "#332288", "#999933", "#AA4499"]
        return palette[i % palette.count]
    }

    /// A point of the viridis colour map, t in [0, 1] (clamped; nil → light grey).
    public static func viridis(_ t: Double?) -> String {
        guard let t, t.isFinite else { return "#e8e8e8" }
        let stops: [(Double, Double, Double)] = [
            (68, 1, 84), (72, 40, 120), (62, 74, 137), (49, 104, 142), (38, 130, 142),
            (31, 158, 137), (53, 183, 121), (109, 205, 89), (180, 222, 44), (253, 231, 37),
        ]
        let x = min(1, max(0, t)) * Double(stops.count - 1)
        let i = min(Int(x), stops.count - 2), f = x - Double(i)
        let (a, b) = (stops[i], stops[i + 1])
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * f).rounded()) }
        return String(format: "#%02x%02x%02x", mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
    }

    /// About `count` round tick values covering [lo, hi] (1, 2 or 5 times a power of ten apart).
    public static func linearTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
        guard lo.isFinite, hi.isFinite, hi > lo else { return lo.isFinite ? [lo] : [] }
        let raw = (hi - lo) / Double(max(count, 1))
        let power = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
        var ticks: [Double] = []
        var t = ceil(lo / step - 1e-9) * step
        while t <= hi + step * 1e-9 {
            ticks.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return ticks
    }

    /// Ticks for a log axis over [lo, hi] (both > 0): powers of ten, with 2 and 5 between when the
    /// range spans at most three decades, and only every k-th power when it spans more than eight.
    public static func logTicks(_ lo: Double, _ hi: Double) -> [Double] {
        guard lo > 0, hi >= lo, lo.isFinite, hi.isFinite else { return [] }
        let a = Int(floor(log10(lo))), b = Int(ceil(log10(hi)))
        let multiples: [Double] = b - a <= 3 ? [1, 2, 5] : [1]
        let every = max(1, (b - a + 7) / 8)
        var ticks: [Double] = []
        for e in stride(from: a, through: b, by: every) {
            for m in multiples {
                let t = m * pow(10, Double(e))
                if t >= lo * (1 - 1e-9), t <= hi * (1 + 1e-9) { ticks.append(t) }
            }
        }
        return ticks.count >= 2 ? ticks : [lo, hi]
    }
}
