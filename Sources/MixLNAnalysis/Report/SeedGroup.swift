import Foundation

/// Mean, sample standard deviation (n − 1) and range of a few numbers, such as one measure over seeds.
public struct SeedStatistics: Equatable {
    public var n: Int
    public var mean: Double
    /// nil for a single value (one seed says nothing about the spread).
    public var standardDeviation: Double?
    public var min: Double
    public var max: Double

    /// nil for no values.
    public init?(_ values: [Double]) {
        guard let lo = values.min(), let hi = values.max() else { return nil }
        n = values.count
        mean = values.reduce(0, +) / Double(n)
        let m = mean
        standardDeviation = n > 1 ? (values.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n - 1)).squareRoot() : nil
        min = lo
        max = hi
    }
}

/// The runs of one scheme in one folder (a `compare` folder: one depth of a study), seeds pooled.
public struct SeedGroup {
    /// How the band around a group's mean curve is drawn.
    public enum Spread: Equatable {
        /// mean ± one sample standard deviation (three seeds or more).
        case standardDeviation
        /// from the lowest to the highest seed (two seeds: a standard deviation of two values is
        /// just half their distance times √2, so the range says the same more plainly).
        case range
    }

    /// One point of the mean curve: the runs' validation perplexity after the same number of tokens.
    public struct Point {
        public var tokens: Int
        public var mean: Double
        /// The band's edges (nil for one seed).
        public var low: Double?
        public var high: Double?
    }

    /// The folder's path.
    public var folder: String
    public var scheme: String
    public var runs: [ReportRun]

    /// Groups in the order their first run comes, runs in their own order.
    public static func grouping(_ runs: [ReportRun]) -> [SeedGroup] {
        var groups: [SeedGroup] = []
        for run in runs {
            if let i = groups.firstIndex(where: { $0.folder == run.folder && $0.scheme == run.scheme }) {
                groups[i].runs.append(run)
            } else {
                groups.append(SeedGroup(folder: run.folder, scheme: run.scheme, runs: [run]))
            }
        }
        return groups
    }

    /// The runs the curve is drawn from: those with validation evaluations.
    public var curveRuns: [ReportRun] { runs.filter { !$0.validationCurve.isEmpty } }

    public var spread: Spread? {
        switch curveRuns.count {
        case 0, 1: return nil
        case 2: return .range
        default: return .standardDeviation
        }
    }

    /// The mean over `curveRuns` at every token count all of them reached, with the band of `spread`:
    /// so every point averages the same seeds, and a group whose seeds are still training stops at
    /// the last evaluation the slowest has done.
    public var curve: [Point] {
        let curves = curveRuns.map { Dictionary($0.validationCurve.map { ($0.tokens, $0.perplexity) }, uniquingKeysWith: { $1 }) }
        guard let first = curves.first else { return [] }
        let shared = first.keys.filter { x in curves.allSatisfy { $0[x] != nil } }.sorted()
        let spread = spread
        return shared.map { x in
            let s = SeedStatistics(curves.map { $0[x]! })!
            switch spread {
            case .standardDeviation?: return Point(tokens: x, mean: s.mean, low: s.mean - s.standardDeviation!, high: s.mean + s.standardDeviation!)
            case .range?: return Point(tokens: x, mean: s.mean, low: s.min, high: s.max)
            case nil: return Point(tokens: x, mean: s.mean)
            }
        }
    }

    /// Runs whose summary says completed, with their final validation perplexity.
    public var finished: [(run: ReportRun, perplexity: Double)] {
        runs.compactMap { run in
            guard run.summary?.status == .completed, let ppl = run.summary?.finalEval?.perplexity ?? run.evals.last?.perplexity else { return nil }
            return (run, ppl)
        }
    }

    /// Final validation perplexity over the finished runs (diverged and unfinished runs left out).
    public var final: SeedStatistics? { SeedStatistics(finished.map(\.perplexity)) }

    public var diverged: [ReportRun] { runs.filter { $0.summary?.status == .diverged } }

    /// Runs not counted in `final` and not diverged: still training, stopped, or with no validation perplexity.
    public var notCounted: [ReportRun] {
        let counted = Set(finished.map(\.run.path))
        return runs.filter { !counted.contains($0.path) && $0.summary?.status != .diverged }
    }

    /// The scheme this one is the Mix-LN variant of, when it is one: `mix:K` → `pre`,
    /// `scaled-mix:K` → `scaled-pre`, with any `+…` suffix kept (`mix:3+gpas` → `pre+gpas`).
    public static func preCounterpart(of scheme: String) -> String? {
        let parts = scheme.split(separator: "+", maxSplits: 1).map(String.init)
        let base = parts[0].split(separator: ":", maxSplits: 1)[0]
        let suffix = parts.count > 1 ? "+" + parts[1] : ""
        switch base {
        case "mix": return "pre" + suffix
        case "scaled-mix": return "scaled-pre" + suffix
        default: return nil
        }
    }
}

/// Whether Mix-LN's final perplexity differs from Pre-LN's (same folder) by more than the seeds
/// scatter: |mean_mix − mean_pre| > √(sd_pre² + sd_mix²), sample standard deviations. A screen for
/// "the difference is larger than the noise we measured", not a significance test.
public struct SeedGap {
    public var pre: SeedGroup
    public var mix: SeedGroup
    /// mean_mix − mean_pre (negative: Mix-LN lower); nil when either has no finished run.
    public var gap: Double?
    /// √(sd_pre² + sd_mix²); nil unless both have at least two finished seeds.
    public var spread: Double?
    public var exceedsSpread: Bool? {
        guard let gap, let spread else { return nil }
        return abs(gap) > spread
    }

    public init(pre: SeedGroup, mix: SeedGroup) {
        self.pre = pre
        self.mix = mix
        let (p, m) = (pre.final, mix.final)
        gap = p.flatMap { p in m.map { $0.mean - p.mean } }
        if let sp = p?.standardDeviation, let sm = m?.standardDeviation { spread = (sp * sp + sm * sm).squareRoot() }
    }

    /// Each Mix-LN group paired with the Pre-LN group of its folder, where there is one.
    public static func pairs(_ groups: [SeedGroup]) -> [SeedGap] {
        groups.compactMap { mix in
            guard let name = SeedGroup.preCounterpart(of: mix.scheme),
                  let pre = groups.first(where: { $0.folder == mix.folder && $0.scheme == name }) else { return nil }
            return SeedGap(pre: pre, mix: mix)
        }
    }
}
