import XCTest
import MixLNTensor
import MixLNTestSupport

extension FiniteDifference {
    /// `randomVector` rounded to Float.
    static func randomFloats(_ count: Int, seed: UInt64, scale: Double = 1) -> [Float] {
        randomVector(count, seed: seed, scale: scale).map { Float($0) }
    }
}

extension XCTestCase {
    /// A copy of `values` in memory owned by the test until it ends (at least one slot, so an empty
    /// input still has a valid pointer). Unlike `Buffer(values).pointer`, whose temporary `Buffer`
    /// may be freed before the pointer is used, this cannot dangle.
    func scratch<T: TensorScalar>(_ values: [T]) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(values.count, 1))
        p.initialize(repeating: 0, count: max(values.count, 1))
        values.withUnsafeBufferPointer { if let base = $0.baseAddress { p.update(from: base, count: values.count) } }
        addTeardownBlock { p.deallocate() }
        return p
    }
}

/// The first `count` values at `p`.
func read<T>(_ p: UnsafePointer<T>, _ count: Int) -> [T] { Array(UnsafeBufferPointer(start: p, count: count)) }
func read<T>(_ p: UnsafeMutablePointer<T>, _ count: Int) -> [T] { read(UnsafePointer(p), count) }
