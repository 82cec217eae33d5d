import Foundation

/// Learning rate against update step: linear warmup from 0, then a decay to `minRatio`·peak.
///
/// `cosine` is the official formula: `min + (1 − min)·½(1 + cos(π·(s − W)/(S − W)))` of the peak;
/// `linear` decays in a straight line to the same floor; `constant` holds the peak after warmup.
public struct LearningRateSchedule: Codable, Equatable, Sendable {
    public enum Kind: String, Codable, CaseIterable, Sendable { case cosine, linear, constant }

    public var kind: Kind
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    /// Floor as a fraction of the peak (official `min_lr_ratio`, 0.1).
    public var minRatio: Double

    public init(kind: Kind = .cosine, peak: Double, warmupSteps: Int, totalSteps: Int, minRatio: Double = 0.1) {
        self.kind = kind
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
        self.minRatio = minRatio
    }

    /// The rate for update `step` (0-based). Step 0 of a warmup runs at rate 0, as PyTorch's `LambdaLR` does.
    public func rate(at step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step) / Double(max(1, warmupSteps)) }
        let progress = min(1, Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps)))
        let decay: Double
        switch kind {
        case .cosine: decay = 0.5 * (1 + cos(Double.pi * progress))
        case .linear: decay = 1 - progress
        case .constant: decay = 1
        }
        return peak * (minRatio + (1 - minRatio) * decay)
    }

    enum CodingKeys: String, CodingKey {
        case kind, peak, warmupSteps = "warmup_steps", totalSteps = "total_steps", minRatio = "min_lr_ratio"
    }
}
