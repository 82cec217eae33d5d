/// A fixed-size, zero-initialized block of scalars that owns its memory.
///
/// The engine allocates parameters, gradients and activations once as `Buffer`s and hands raw
/// pointers to the kernels, as llm.c does; nothing is allocated inside a training step.
public final class Buffer<T: TensorScalar> {
    public let count: Int
    public let pointer: UnsafeMutablePointer<T>

    public init(count: Int) {
        precondition(count >= 0, "buffer size must be non-negative")
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [T]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public subscript(i: Int) -> T {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// A copy of the contents as an array.
    public var array: [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
}
