/// A seeded, reproducible random number generator (xoshiro256**) with a normal sampler.
///
/// Its whole state is four words (`state`), so a run can save it in a checkpoint and resume
/// with the exact same stream.
public struct RandomSource: RandomNumberGenerator, Codable, Equatable, Sendable {
    public var state: [UInt64]

    /// Seeds the four state words from `seed` with SplitMix64, as the xoshiro authors recommend.
    public init(seed: UInt64) {
        var s = seed
        var words: [UInt64] = []
        for _ in 0..<4 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        state = words
    }

    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    public mutating func nextUniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Standard normal sample (Box–Muller; one of the pair is used, so the stream is simple to reason about).
    public mutating func nextNormal() -> Double {
        var u1 = nextUniform()
        while u1 <= .leastNormalMagnitude { u1 = nextUniform() }
        let u2 = nextUniform()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * .pi * u2)
    }

    /// Fills `count` values at `out` with N(0, std²).
    public mutating func fillNormal<T: TensorScalar>(_ out: UnsafeMutablePointer<T>, count: Int, std: Double) {
        for i in 0..<count { out[i] = T(nextNormal() * std) }
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

import Foundation
@inline(__always) private func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Foundation.cos(x) }
