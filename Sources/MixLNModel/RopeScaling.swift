import Foundation

/// How a config rescales RoPE's inverse frequencies: Hugging Face's `rope_scaling` (keyed by
/// `rope_type`, or the older `type`), computed exactly as transformers' `_compute_linear_scaling_rope_parameters`
/// and `_compute_llama3_parameters`.
///
/// Only the kinds LLaMA checkpoints use are implemented. Any other kind (`dynamic`, `yarn`,
/// `longrope`, …) is refused by name when a config is read: run as plain RoPE it would give wrong
/// frequencies without a word. `default` (and `null`) means no scaling.
public enum RopeScaling: Equatable, Sendable {
    /// `linear`: positions divided by `factor`, i.e. every inverse frequency divided by it.
    case linear(factor: Double)
    /// `llama3` (LLaMA 3.1 and later): see `Llama3`.
    case llama3(Llama3)

    /// LLaMA 3's band-wise scaling. With `old = originalMaxPositionEmbeddings`, a rotation pair of
    /// wavelength λ = 2π / f keeps f when λ < old / `highFreqFactor`, becomes f / `factor` when
    /// λ > old / `lowFreqFactor`, and in between `(1 − s)·f/factor + s·f` with
    /// `s = (old/λ − lowFreqFactor) / (highFreqFactor − lowFreqFactor)`.
    public struct Llama3: Equatable, Sendable {
        public var factor: Double
        public var lowFreqFactor: Double
        public var highFreqFactor: Double
        public var originalMaxPositionEmbeddings: Int

        public init(factor: Double, lowFreqFactor: Double, highFreqFactor: Double, originalMaxPositionEmbeddings: Int) {
            self.factor = factor
            self.lowFreqFactor = lowFreqFactor
            self.highFreqFactor = highFreqFactor
            self.originalMaxPositionEmbeddings = originalMaxPositionEmbeddings
        }
    }

    /// The `rope_type` values a config may give.
    public static let supportedTypes = ["default", "linear", "llama3"]

    /// Plain RoPE's inverse frequencies (D/2): `f_i = theta^(−2i/D)`.
    public static func unscaledInverseFrequencies(headDim: Int, theta: Double) -> [Double] {
        (0..<headDim / 2).map { pow(theta, -2 * Double($0) / Double(headDim)) }
    }

    /// The inverse frequencies (D/2) after scaling.
    public func apply(to inverseFrequencies: [Double]) -> [Double] {
        switch self {
        case .linear(let factor):
            return inverseFrequencies.map { $0 / factor }
        case .llama3(let p):
            let old = Double(p.originalMaxPositionEmbeddings)
            let lowFrequencyWavelength = old / p.lowFreqFactor, highFrequencyWavelength = old / p.highFreqFactor
            return inverseFrequencies.map { f in
                let wavelength = 2 * Double.pi / f
                if wavelength < highFrequencyWavelength { return f }
                if wavelength > lowFrequencyWavelength { return f / p.factor }
                let smooth = (old / wavelength - p.lowFreqFactor) / (p.highFreqFactor - p.lowFreqFactor)
                return (1 - smooth) * f / p.factor + smooth * f
            }
        }
    }

    /// Checks the parameters make frequencies: positive, finite factors, `highFreqFactor > lowFreqFactor`.
    public func validate() throws {
        func require(_ ok: Bool, _ message: String) throws {
            if !ok { throw ModelError.invalidConfig("rope_scaling: \(message)") }
        }
        switch self {
        case .linear(let factor):
            try require(factor.isFinite && factor > 0, "factor must be positive, got \(factor)")
        case .llama3(let p):
            try require(p.factor.isFinite && p.factor > 0, "factor must be positive, got \(p.factor)")
            try require(p.lowFreqFactor.isFinite && p.lowFreqFactor > 0, "low_freq_factor must be positive, got \(p.lowFreqFactor)")
            try require(p.highFreqFactor.isFinite && p.highFreqFactor > p.lowFreqFactor,
                        "high_freq_factor (\(p.highFreqFactor)) must be greater than low_freq_factor (\(p.lowFreqFactor))")
            try require(p.originalMaxPositionEmbeddings > 0,
                        "original_max_position_embeddings must be positive, got \(p.originalMaxPositionEmbeddings)")
        }
    }
}

extension RopeScaling: Encodable {
    enum CodingKeys: String, CodingKey, CaseIterable {
        case ropeType = "rope_type", type, factor
        case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
    }

    /// Writes the current Hugging Face form: `rope_type` and the kind's parameters.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .linear(let factor):
            try c.encode("linear", forKey: .ropeType)
            try c.encode(factor, forKey: .factor)
        case .llama3(let p):
            try c.encode("llama3", forKey: .ropeType)
            try c.encode(p.factor, forKey: .factor)
            try c.encode(p.lowFreqFactor, forKey: .lowFreqFactor)
            try c.encode(p.highFreqFactor, forKey: .highFreqFactor)
            try c.encode(p.originalMaxPositionEmbeddings, forKey: .originalMaxPositionEmbeddings)
        }
    }

    /// Reads a `rope_scaling` object: nil for `default`; an unknown kind, an unknown key or a missing
    /// parameter is an error that names it.
    static func decode(from decoder: Decoder) throws -> RopeScaling? {
        struct AnyKey: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        let known = Set(CodingKeys.allCases.map(\.rawValue))
        if let unknown = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw ModelError.invalidConfig("rope_scaling: unknown key '\(unknown)' (known: \(known.sorted().joined(separator: ", ")))")
        }
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let ropeType = try c.decodeIfPresent(String.self, forKey: .ropeType), type = try c.decodeIfPresent(String.self, forKey: .type)
        if let ropeType, let type, ropeType != type {
            throw ModelError.invalidConfig("rope_scaling: rope_type '\(ropeType)' and type '\(type)' disagree")
        }
        guard let kind = ropeType ?? type else {
            throw ModelError.invalidConfig("rope_scaling: no rope_type (or type) given")
        }
        func number(_ key: CodingKeys) throws -> Double {
            guard let value = try c.decodeIfPresent(Double.self, forKey: key) else {
                throw ModelError.invalidConfig("rope_scaling: type '\(kind)' needs '\(key.rawValue)'")
            }
            return value
        }
        switch kind {
        case "default":
            return nil
        case "linear":
            return .linear(factor: try number(.factor))
        case "llama3":
            let positions = try number(.originalMaxPositionEmbeddings)
            guard positions == positions.rounded(), abs(positions) < 1e15 else {
                throw ModelError.invalidConfig("rope_scaling: original_max_position_embeddings must be an integer, got \(positions)")
            }
            return .llama3(Llama3(factor: try number(.factor), lowFreqFactor: try number(.lowFreqFactor),
                                  highFreqFactor: try number(.highFreqFactor), originalMaxPositionEmbeddings: Int(positions)))
        default:
            throw ModelError.invalidConfig(
                "rope_scaling type '\(kind)' is not supported (supported: \(supportedTypes.joined(separator: ", "))); "
                    + "running it as plain RoPE would give wrong frequencies")
        }
    }
}
