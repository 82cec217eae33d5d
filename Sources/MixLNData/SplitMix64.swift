/// A small, fast, seedable generator (Steele, Lea & Flood 2014) whose stream is fixed by this
/// file, not by the standard library, so shuffles reproduce across Swift versions and platforms.
public struct SplitMix64: RandomNumberGenerator, Codable, Equatable, Sendable {
    /// The whole generator state; the next output is `mix(state + golden)`.
    public var state: UInt64

    static let golden: UInt64 = 0x9E37_79B9_7F4A_7C15

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= Self.golden
        return Self.mix(state)
    }

    /// The SplitMix64 finalizer: a bijective scramble of 64 bits.
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound` (Lemire's multiply-and-reject, so no modulo bias).
    public mutating func next(below bound: Int) -> Int {
        precondition(bound > 0, "bound must be positive")
        let range = UInt64(bound)
        let threshold = (0 &- range) % range
        while true {
            let (high, low) = next().multipliedFullWidth(by: range)
            if low >= threshold { return Int(high) }
        }
    }

    /// `0..<count` in an order fixed by the generator (Fisher–Yates, written out here so the
    /// order does not depend on the standard library's shuffle).
    public mutating func permutation(_ count: Int) -> [Int] {
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, next(below: i + 1))
        }
        return order
    }

    /// `permutation(count)` in 4 bytes an entry instead of 8: the same order (the same draws), for
    /// shuffling corpora of hundreds of millions of sequences. `count` must fit in `UInt32`.
    public mutating func compactPermutation(_ count: Int) -> [UInt32] {
        precondition(count <= Int(UInt32.max) + 1, "a compact permutation holds at most 2^32 entries")
        var order = (0..<count).map { UInt32(truncatingIfNeeded: $0) }
        for i in stride(from: count - 1, to: 0, by: -1) {
            order.swapAt(i, next(below: i + 1))
        }
        return order
    }
}
