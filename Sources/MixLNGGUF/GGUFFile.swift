import Foundation

/// A GGUF file (llama.cpp's format, versions 2 and 3), memory-mapped and validated before anything
/// in it is trusted.
///
/// Layout: magic `GGUF`, uint32 version, uint64 tensor count, uint64 metadata count; the metadata
/// (string key, uint32 value type, value); the tensor infos (name, uint32 dimension count, uint64
/// dimensions innermost first, uint32 ggml type, uint64 offset into the data section); padding to
/// `general.alignment` (default 32); the data section. Checked: magic and version, every count
/// against the bytes left in the file, every string's length, value types, duplicate keys and
/// tensor names, the alignment (a power of two) and every tensor's offset against it, dimension
/// counts (1…4) and sizes, whole blocks per row for quantized types, unknown or unsupported types
/// (by name), each tensor's bytes inside the file, and tensors whose bytes overlap.
public final class GGUFFile {
    public let path: String
    /// 2 or 3.
    public let version: Int
    public let metadata: [String: GGUFValue]
    /// Tensors in the order the file lists them.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment`, or 32.
    public let alignment: Int
    private let byName: [String: GGUFTensorInfo]
    private let data: Data  // memory-mapped

    /// ggml's limit on a tensor's dimensions.
    public static let maximumDimensions = 4
    /// Arrays nested deeper than this are refused as corrupt (real files nest at most once).
    static let maximumNesting = 4

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw GGUFError(path, "no such file") }
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw GGUFError(path, "cannot read file")
        }
        let parsed = try data.withUnsafeBytes { try Self.parse($0, path: path) }
        (version, metadata, tensors, alignment) = parsed
        byName = Dictionary(uniqueKeysWithValues: tensors.map { ($0.name, $0) })
    }

    public func info(_ name: String) -> GGUFTensorInfo? { byName[name] }

    /// Calls `body` with the stored bytes of `tensor`, read in place from the memory map.
    public func withBytes<R>(of tensor: GGUFTensorInfo, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try data.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[tensor.byteRange])) }
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, path: String)
        throws -> (Int, [String: GGUFValue], [GGUFTensorInfo], Int) {
        var cursor = GGUFCursor(bytes: bytes, path: path)
        guard bytes.count >= 4, Array(bytes[0..<4]) == Array("GGUF".utf8) else {
            throw GGUFError(path, bytes.count < 4 ? "truncated: \(bytes.count) bytes, fewer than the 4-byte magic"
                                                  : "not a GGUF file (the magic is not 'GGUF')")
        }
        _ = try cursor.read(UInt32.self, "magic")
        let version = try cursor.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw GGUFError(path, version == 1 ? "GGUF version 1 (32-bit counts) is not supported; convert the file again with a current llama.cpp"
                : version.byteSwapped == 2 || version.byteSwapped == 3 ? "a big-endian GGUF file; only little-endian files are supported"
                : "unsupported GGUF version \(version) (supported: 2, 3)")
        }
        let tensorCount = try cursor.readCount("tensor_count")
        let keyCount = try cursor.readCount("metadata_kv_count")
        // Every metadata entry takes at least 12 bytes (key length, type), every tensor info 24.
        guard keyCount <= cursor.remaining / 12 else {
            throw GGUFError(path, "truncated or corrupt: metadata_kv_count \(keyCount) cannot fit in the \(cursor.remaining) bytes left of the \(bytes.count)-byte file")
        }
        var metadata: [String: GGUFValue] = [:]
        for index in 0..<keyCount {
            let key = try cursor.readString("metadata key \(index)")
            guard metadata[key] == nil else { throw GGUFError(path, "metadata key '\(key)' appears twice") }
            let type = try cursor.read(UInt32.self, "the type of metadata '\(key)'")
            metadata[key] = try readValue(type: type, &cursor, field: "metadata '\(key)'", depth: 0)
        }
        var alignment = 32
        if let given = metadata["general.alignment"] {
            guard case .unsigned(let value) = given, value > 0, value <= 1 << 30, value & (value - 1) == 0 else {
                throw GGUFError(path, "general.alignment must be a power of two (uint32), got \(given)")
            }
            alignment = Int(value)
        }
        guard tensorCount <= cursor.remaining / 24 else {
            throw GGUFError(path, "truncated or corrupt: tensor_count \(tensorCount) cannot fit in the \(cursor.remaining) bytes left of the \(bytes.count)-byte file")
        }
        var infos: [(name: String, type: GGMLType, dimensions: [Int], offset: Int, size: Int)] = []
        var names = Set<String>()
        for index in 0..<tensorCount {
            let name = try cursor.readString("the name of tensor \(index)")
            guard names.insert(name).inserted else { throw GGUFError(path, "tensor '\(name)' appears twice") }
            let dimensionCount = try cursor.read(UInt32.self, "n_dims of tensor '\(name)'")
            guard (1...UInt32(maximumDimensions)).contains(dimensionCount) else {
                throw GGUFError(path, "tensor '\(name)' has \(dimensionCount) dimensions (1 to \(maximumDimensions) allowed)")
            }
            var dimensions: [Int] = []
            for axis in 0..<Int(dimensionCount) {
                let n = try cursor.read(UInt64.self, "dimension \(axis) of tensor '\(name)'")
                guard n > 0, n <= 1 << 40 else { throw GGUFError(path, "tensor '\(name)' has dimension \(axis) = \(n)") }
                dimensions.append(Int(n))
            }
            let rawType = try cursor.read(UInt32.self, "the type of tensor '\(name)'")
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError(path, GGMLType.unsupportedNames[rawType].map { "tensor '\(name)' has type \($0), which is not supported (supported: \(GGMLType.allCases.map(\.name).joined(separator: ", ")))" }
                    ?? "tensor '\(name)' has unknown ggml type \(rawType)")
            }
            guard dimensions[0] % type.blockSize == 0 else {
                throw GGUFError(path, "tensor '\(name)' of type \(type.name) has rows of \(dimensions[0]) values, not a multiple of its \(type.blockSize)-value blocks")
            }
            guard let size = GGUFTensorInfo.byteCount(type: type, dimensions: dimensions) else {
                throw GGUFError(path, "tensor '\(name)' with dimensions \(dimensions) is impossibly large")
            }
            let offset = try cursor.readCount("the offset of tensor '\(name)'")
            guard offset % alignment == 0 else {
                throw GGUFError(path, "tensor '\(name)' starts at data offset \(offset), not a multiple of the alignment \(alignment)")
            }
            infos.append((name, type, dimensions, offset, size))
        }
        let dataStart = (cursor.offset + alignment - 1) / alignment * alignment
        guard dataStart <= bytes.count || infos.isEmpty else {
            throw GGUFError(path, "truncated: the data section would start at byte \(dataStart) of a \(bytes.count)-byte file")
        }
        let dataSize = bytes.count - min(dataStart, bytes.count)
        var tensors: [GGUFTensorInfo] = []
        for info in infos {
            guard info.offset <= dataSize, info.size <= dataSize - info.offset else {
                throw GGUFError(path, "truncated: tensor '\(info.name)' needs bytes \(info.offset)..<\(info.offset + info.size) of a \(dataSize)-byte data section")
            }
            tensors.append(GGUFTensorInfo(name: info.name, type: info.type, dimensions: info.dimensions,
                                          byteRange: (dataStart + info.offset)..<(dataStart + info.offset + info.size)))
        }
        let ordered = tensors.sorted { ($0.byteRange.lowerBound, $0.byteRange.upperBound) < ($1.byteRange.lowerBound, $1.byteRange.upperBound) }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.byteRange.lowerBound < previous.byteRange.upperBound {
            throw GGUFError(path, "tensor '\(next.name)' overlaps the data of tensor '\(previous.name)'")
        }
        return (Int(version), metadata, tensors, alignment)
    }

    /// Reads one value of GGUF type `type` (0 uint8 … 12 float64; 8 string, 9 array).
    private static func readValue(type: UInt32, _ cursor: inout GGUFCursor, field: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .unsigned(UInt64(try cursor.read(UInt8.self, field)))
        case 1: return .signed(Int64(try cursor.read(Int8.self, field)))
        case 2: return .unsigned(UInt64(try cursor.read(UInt16.self, field)))
        case 3: return .signed(Int64(try cursor.read(Int16.self, field)))
        case 4: return .unsigned(UInt64(try cursor.read(UInt32.self, field)))
        case 5: return .signed(Int64(try cursor.read(Int32.self, field)))
        case 6: return .float(Double(Float(bitPattern: try cursor.read(UInt32.self, field))))
        case 7:
            let byte = try cursor.read(UInt8.self, field)
            guard byte <= 1 else { throw GGUFError(cursor.path, "\(field) is a bool stored as \(byte)") }
            return .bool(byte == 1)
        case 8: return .string(try cursor.readString(field))
        case 9:
            guard depth < maximumNesting else { throw GGUFError(cursor.path, "\(field) nests arrays deeper than \(maximumNesting)") }
            let elementType = try cursor.read(UInt32.self, "the element type of \(field)")
            let count = try cursor.readCount("the length of \(field)")
            let minimumSize = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: 8, 9: 12, 10: 8, 11: 8, 12: 8][elementType] ?? 1
            guard count <= cursor.remaining / minimumSize else {
                throw GGUFError(cursor.path, "truncated: \(field) claims \(count) elements, more than the \(cursor.remaining) bytes left can hold")
            }
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for i in 0..<count {
                values.append(try readValue(type: elementType, &cursor, field: "\(field)[\(i)]", depth: depth + 1))
            }
            return .array(values)
        case 10: return .unsigned(try cursor.read(UInt64.self, field))
        case 11: return .signed(try cursor.read(Int64.self, field))
        case 12: return .float(Double(bitPattern: try cursor.read(UInt64.self, field)))
        default: throw GGUFError(cursor.path, "\(field) has unknown value type \(type)")
        }
    }
}
