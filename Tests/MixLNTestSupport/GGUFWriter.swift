import Foundation

/// Writes GGUF files (version 3 unless told) for tests: typed metadata, tensors given as their
/// stored bytes (see `GGUFQuantizer` for the quantized types), data offsets aligned as the format
/// requires. Tests that need a corrupt file patch the bytes of `serialized()`, or use the raw
/// entry points (`addRaw`, an explicit `offset`, a `type` number ggml does not have).
public struct GGUFWriter {
    public var version: UInt32 = 3
    public var alignment = 32
    private var metadata = Data()
    private var metadataCount = 0
    private var tensors: [(name: String, dimensions: [Int], type: UInt32, bytes: Data, offset: Int?)] = []

    public init() {}

    // GGUF value types
    static let uint8: UInt32 = 0, int32: UInt32 = 5, uint32: UInt32 = 4, float32: UInt32 = 6, bool: UInt32 = 7
    static let string: UInt32 = 8, array: UInt32 = 9, uint64: UInt32 = 10

    private static func encode(_ text: String) -> Data {
        var out = Data()
        append(UInt64(text.utf8.count), to: &out)
        out.append(contentsOf: Array(text.utf8))
        return out
    }

    private static func append<I: FixedWidthInteger>(_ value: I, to data: inout Data) {
        withUnsafeBytes(of: value.littleEndian) { data.append(contentsOf: $0) }
    }

    /// A key with a value type number and the value's bytes as given (for malformed entries).
    public mutating func addRaw(_ key: String, type: UInt32, bytes: Data) {
        metadata.append(Self.encode(key))
        Self.append(type, to: &metadata)
        metadata.append(bytes)
        metadataCount += 1
    }

    public mutating func add(_ key: String, string value: String) { addRaw(key, type: Self.string, bytes: Self.encode(value)) }
    public mutating func add(_ key: String, uint32 value: UInt32) { addRaw(key, type: Self.uint32, bytes: Self.bytes(value)) }
    public mutating func add(_ key: String, int32 value: Int32) { addRaw(key, type: Self.int32, bytes: Self.bytes(value)) }
    public mutating func add(_ key: String, float32 value: Float) { addRaw(key, type: Self.float32, bytes: Self.bytes(value.bitPattern)) }
    public mutating func add(_ key: String, bool value: Bool) { addRaw(key, type: Self.bool, bytes: Data([value ? 1 : 0])) }

    public mutating func add(_ key: String, strings values: [String]) {
        addArray(key, elementType: Self.string, count: values.count, values.reduce(into: Data()) { $0.append(Self.encode($1)) })
    }
    public mutating func add(_ key: String, float32s values: [Float]) {
        addArray(key, elementType: Self.float32, count: values.count, values.reduce(into: Data()) { $0.append(Self.bytes($1.bitPattern)) })
    }
    public mutating func add(_ key: String, int32s values: [Int32]) {
        addArray(key, elementType: Self.int32, count: values.count, values.reduce(into: Data()) { $0.append(Self.bytes($1)) })
    }
    public mutating func add(_ key: String, uint8s values: [UInt8]) { addArray(key, elementType: Self.uint8, count: values.count, Data(values)) }

    private mutating func addArray(_ key: String, elementType: UInt32, count: Int, _ elements: Data) {
        var bytes = Data()
        Self.append(elementType, to: &bytes)
        Self.append(UInt64(count), to: &bytes)
        bytes.append(elements)
        addRaw(key, type: Self.array, bytes: bytes)
    }

    static func bytes<I: FixedWidthInteger>(_ value: I) -> Data {
        var out = Data()
        append(value, to: &out)
        return out
    }

    /// A tensor of ggml type number `type` with dimensions innermost first (`[columns, rows]`) and
    /// its stored bytes; `offset` overrides the next aligned data offset.
    public mutating func addTensor(_ name: String, dimensions: [Int], type: UInt32, bytes: Data, offset: Int? = nil) {
        tensors.append((name, dimensions, type, bytes, offset))
    }

    /// The whole file.
    public func serialized() -> Data {
        var out = Data("GGUF".utf8)
        Self.append(version, to: &out)
        Self.append(UInt64(tensors.count), to: &out)
        Self.append(UInt64(metadataCount), to: &out)
        out.append(metadata)
        var next = 0
        var placed: [(Int, Data)] = []
        for tensor in tensors {
            out.append(Self.encode(tensor.name))
            Self.append(UInt32(tensor.dimensions.count), to: &out)
            for n in tensor.dimensions { Self.append(UInt64(n), to: &out) }
            Self.append(tensor.type, to: &out)
            let offset = tensor.offset ?? next
            Self.append(UInt64(offset), to: &out)
            placed.append((offset, tensor.bytes))
            next = (max(next, offset + tensor.bytes.count) + alignment - 1) / alignment * alignment
        }
        while out.count % alignment != 0 { out.append(0) }
        let dataStart = out.count
        var section = Data(count: placed.map { $0.0 + $0.1.count }.max() ?? 0)
        for (offset, bytes) in placed { section.replaceSubrange(offset..<(offset + bytes.count), with: bytes) }
        out.append(section)
        precondition(out.count >= dataStart)
        return out
    }

    public func write(to path: String) throws { try serialized().write(to: URL(fileURLWithPath: path)) }
}

extension GGUFWriter {
    /// llama.cpp's converter `permute` of a q or k projection (heads·D rows of `columns`) for its
    /// interleaved RoPE: `w.reshape(heads, 2, D/2, columns).swapaxes(1, 2)`, so row h·D + s·D/2 + i
    /// (half s, pair i of head h) becomes row h·D + 2i + s.
    public static func llamaCppPermute(_ w: [Float], heads: Int, columns: Int) -> [Float] {
        let D = w.count / columns / heads
        var out = w
        for h in 0..<heads {
            for s in 0..<2 {
                for i in 0..<(D / 2) {
                    let from = (h * D + s * D / 2 + i) * columns, to = (h * D + 2 * i + s) * columns
                    out.replaceSubrange(to..<(to + columns), with: w[from..<(from + columns)])
                }
            }
        }
        return out
    }
}
