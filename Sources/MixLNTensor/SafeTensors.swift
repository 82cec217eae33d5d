import Foundation

/// Element types of the safetensors format that this package reads or writes.
public enum SafeTensorsDType: String, Sendable, CaseIterable {
    case float32 = "F32", bfloat16 = "BF16", float16 = "F16"

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 2 }

    /// dtypes of the format that are valid but that a model here cannot use.
    static let knownButUnsupported: Set<String> = ["F64", "I64", "I32", "I16", "I8", "U8", "U16", "U32", "U64", "BOOL",
                                                   "F8_E4M3", "F8_E5M2"]
}

/// Errors from reading or writing safetensors files; each names the file and what was wrong.
public struct SafeTensorsError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ path: String, _ problem: String) { description = "\(path): \(problem)" }
}

/// One tensor's entry in a safetensors header.
public struct SafeTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafeTensorsDType
    public let shape: [Int]
    /// Byte range inside the data section.
    public let dataRange: Range<Int>
    public var count: Int { shape.reduce(1, *) }
}

/// A safetensors file, memory-mapped and validated before anything in it is trusted.
///
/// Format: an 8-byte little-endian header length N, N bytes of JSON (`{name: {dtype, shape,
/// data_offsets: [begin, end]}, "__metadata__": {string: string}}`), then the data section.
/// Checked: N against the file size, that the header is a JSON object of well-formed entries,
/// known dtypes, `end − begin == count × size`, offsets inside the data section, entries that
/// neither overlap nor leave holes.
public final class SafeTensorsFile {
    public let path: String
    public let metadata: [String: String]
    /// Entries in data order.
    public let tensors: [SafeTensorInfo]
    private let byName: [String: SafeTensorInfo]
    private let mapping: MappedFile
    private let data: Data  // a view of `mapping`, no copy
    private let dataStart: Int

    /// Headers above this size are refused as corrupt (real ones are kilobytes to a few MB).
    public static let maximumHeaderBytes = 100 << 20

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw SafeTensorsError(path, "no such file") }
        guard let mapping = MappedFile(path: path) else { throw SafeTensorsError(path, "cannot read file") }
        self.mapping = mapping
        if let base = mapping.bytes.baseAddress {
            data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: mapping.bytes.count, deallocator: .none)
        } else {
            data = Data()  // an empty file
        }
        guard data.count >= 8 else {
            throw SafeTensorsError(path, "truncated: \(data.count) bytes, fewer than the 8-byte header length")
        }
        let headerLength = data.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self)) }
        guard headerLength <= UInt64(Self.maximumHeaderBytes) else {
            throw SafeTensorsError(path, "absurd header length \(headerLength) bytes (file is \(data.count) bytes); not a safetensors file or corrupt")
        }
        guard 8 + Int(headerLength) <= data.count else {
            throw SafeTensorsError(path, "truncated: header length \(headerLength) exceeds the file size \(data.count)")
        }
        dataStart = 8 + Int(headerLength)
        let headerData = data.subdata(in: 8..<dataStart)
        guard let header = try? JSONSerialization.jsonObject(with: headerData) as? [String: Any] else {
            throw SafeTensorsError(path, "header is not a JSON object")
        }
        var metadata: [String: String] = [:]
        var entries: [SafeTensorInfo] = []
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: Any] else { throw SafeTensorsError(path, "__metadata__ is not an object") }
                for (k, v) in m {
                    guard let s = v as? String else { throw SafeTensorsError(path, "__metadata__ value '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            entries.append(try Self.entry(name, value, path: path))
        }
        entries.sort { ($0.dataRange.lowerBound, $0.dataRange.upperBound, $0.name) < ($1.dataRange.lowerBound, $1.dataRange.upperBound, $1.name) }
        let dataSize = data.count - dataStart
        var expectedStart = 0
        for entry in entries {
            guard entry.dataRange.lowerBound == expectedStart else {
                throw SafeTensorsError(path, entry.dataRange.lowerBound < expectedStart
                    ? "tensor '\(entry.name)' overlaps the previous tensor's data"
                    : "hole in the data section before tensor '\(entry.name)' (bytes \(expectedStart)..<\(entry.dataRange.lowerBound))")
            }
            guard entry.dataRange.upperBound <= dataSize else {
                throw SafeTensorsError(path, "truncated: tensor '\(entry.name)' ends at byte \(entry.dataRange.upperBound) of a \(dataSize)-byte data section")
            }
            expectedStart = entry.dataRange.upperBound
        }
        guard expectedStart == dataSize else {
            throw SafeTensorsError(path, "\(dataSize - expectedStart) bytes after the last tensor are not described by the header")
        }
        self.metadata = metadata
        tensors = entries
        byName = Dictionary(uniqueKeysWithValues: entries.map { ($0.name, $0) })
    }

    private static func entry(_ name: String, _ value: Any, path: String) throws -> SafeTensorInfo {
        guard let fields = value as? [String: Any] else { throw SafeTensorsError(path, "entry '\(name)' is not an object") }
        guard let dtypeName = fields["dtype"] as? String else { throw SafeTensorsError(path, "tensor '\(name)' has no dtype") }
        guard let dtype = SafeTensorsDType(rawValue: dtypeName) else {
            throw SafeTensorsError(path, SafeTensorsDType.knownButUnsupported.contains(dtypeName)
                ? "tensor '\(name)' has dtype \(dtypeName); only F32, BF16 and F16 are supported"
                : "tensor '\(name)' has unknown dtype '\(dtypeName)'")
        }
        guard let shapeValues = fields["shape"] as? [Any], let shape = shapeValues.map({ ($0 as? NSNumber)?.intValue }) as? [Int],
              shape.allSatisfy({ $0 >= 0 }) else {
            throw SafeTensorsError(path, "tensor '\(name)' has no valid shape")
        }
        guard let offsetValues = fields["data_offsets"] as? [Any], offsetValues.count == 2,
              let begin = (offsetValues[0] as? NSNumber)?.intValue, let end = (offsetValues[1] as? NSNumber)?.intValue,
              begin >= 0, end >= begin else {
            throw SafeTensorsError(path, "tensor '\(name)' has invalid data_offsets")
        }
        let count = shape.reduce(1) { $0.multipliedReportingOverflow(by: $1).partialValue }
        guard end - begin == count * dtype.size else {
            throw SafeTensorsError(path, "tensor '\(name)': \(end - begin) bytes of data for shape \(shape) of \(dtypeName) (expected \(count * dtype.size))")
        }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin..<end)
    }

    public func info(_ name: String) -> SafeTensorInfo? { byName[name] }

    /// Copies tensor `name`, converted to `T`, into `out` (which must hold `info.count` elements).
    public func read<T: TensorScalar>(_ name: String, into out: UnsafeMutablePointer<T>) throws {
        guard let info = byName[name] else { throw SafeTensorsError(path, "missing tensor '\(name)'") }
        data.withUnsafeBytes { raw in
            let base = raw.baseAddress! + dataStart + info.dataRange.lowerBound
            for i in 0..<info.count {
                switch info.dtype {
                case .float32:
                    out[i] = T(Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
                case .bfloat16:
                    out[i] = T(BFloat16.float(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                case .float16:
                    out[i] = T(HalfFloat.float(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
                }
            }
        }
    }

    /// The stored bytes of tensor `name` (little-endian, in its dtype), read in place from the
    /// memory map: valid as long as this file object lives.
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let info = byName[name] else { throw SafeTensorsError(path, "missing tensor '\(name)'") }
        return UnsafeRawBufferPointer(rebasing: mapping.bytes[(dataStart + info.dataRange.lowerBound)..<(dataStart + info.dataRange.upperBound)])
    }

    /// Tensor `name` as an array of `T`.
    public func array<T: TensorScalar>(_ name: String, as: T.Type = Float.self) throws -> [T] {
        guard let info = byName[name] else { throw SafeTensorsError(path, "missing tensor '\(name)'") }
        var values = [T](repeating: 0, count: info.count)
        try values.withUnsafeMutableBufferPointer { try read(name, into: $0.baseAddress!) }
        return values
    }
}

/// A whole file mapped read-only into memory (pages are read on first touch and shared with the
/// page cache), unmapped when released.
final class MappedFile {
    let bytes: UnsafeRawBufferPointer

    init?(path: String) {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { return nil }
        let size = Int(status.st_size)
        guard size > 0 else {
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else { return nil }
        bytes = UnsafeRawBufferPointer(start: base, count: size)
    }

    deinit {
        if let base = bytes.baseAddress { munmap(UnsafeMutableRawPointer(mutating: base), bytes.count) }
    }
}

/// Builds a safetensors file from named buffers and writes it atomically (temporary file, then rename).
public struct SafeTensorsWriter {
    private struct Pending {
        let name: String
        let dtype: SafeTensorsDType
        let shape: [Int]
        let bytes: Data
    }
    private var pending: [Pending] = []
    public var metadata: [String: String] = [:]

    public init(metadata: [String: String] = [:]) { self.metadata = metadata }

    /// Adds `count = shape.product` values from `values`, stored as `dtype` (F32 or BF16, round to nearest even).
    public mutating func add<T: TensorScalar>(_ name: String, shape: [Int], values: UnsafePointer<T>, dtype: SafeTensorsDType = .float32) {
        let count = shape.reduce(1, *)
        var bytes = Data(count: count * dtype.size)
        bytes.withUnsafeMutableBytes { raw in
            for i in 0..<count {
                let f = Float(values[i])
                switch dtype {
                case .float32: raw.storeBytes(of: f.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                case .bfloat16: raw.storeBytes(of: BFloat16.bits(f).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                case .float16: raw.storeBytes(of: HalfFloat.bits(f).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                }
            }
        }
        pending.append(Pending(name: name, dtype: dtype, shape: shape, bytes: bytes))
    }

    /// Adds an array (convenience for tests and small tensors).
    public mutating func add<T: TensorScalar>(_ name: String, shape: [Int], array: [T], dtype: SafeTensorsDType = .float32) {
        array.withUnsafeBufferPointer { add(name, shape: shape, values: $0.baseAddress!, dtype: dtype) }
    }

    /// The whole file as bytes; the header is padded with spaces to a multiple of 8.
    public func serialized() throws -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for tensor in pending {
            header[tensor.name] = ["dtype": tensor.dtype.rawValue, "shape": tensor.shape,
                                   "data_offsets": [offset, offset + tensor.bytes.count]] as [String: Any]
            offset += tensor.bytes.count
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data()
        out.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(json)
        for tensor in pending { out.append(tensor.bytes) }
        return out
    }

    /// Writes to `path` through a temporary file in the same folder and a rename.
    public func write(to path: String) throws {
        try AtomicFile.write(try serialized(), to: path)
    }
}

/// Writes files so a reader never sees a half-written one: temporary name in the same folder, then `rename`.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try data.write(to: temporary)
        } catch {
            throw SafeTensorsError(path, "cannot write: \((error as NSError).localizedDescription)")
        }
        guard rename(temporary.path, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw SafeTensorsError(path, "cannot write: \(reason)")
        }
    }
}

/// bfloat16 ↔ Float: the top 16 bits of a Float, rounded to nearest even.
public enum BFloat16 {
    @inline(__always) public static func float(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
    @inline(__always) public static func bits(_ value: Float) -> UInt16 {
        let b = value.bitPattern
        if value.isNaN { return UInt16(b >> 16) | 0x40 }  // keep it a (quiet) NaN
        let rounded = b &+ 0x7FFF &+ ((b >> 16) & 1)
        return UInt16(rounded >> 16)
    }
}

/// IEEE half ↔ Float, by bits (no dependence on the platform's Float16 support).
public enum HalfFloat {
    public static func float(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x3FF)
        if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24  // subnormal (or zero)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13)) }
        return Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
    }

    public static func bits(_ value: Float) -> UInt16 {
        let b = value.bitPattern
        let sign = UInt16((b >> 16) & 0x8000)
        if value.isNaN { return sign | 0x7E00 }
        let magnitude = abs(value)
        if magnitude >= 65520 { return sign | 0x7C00 }
        if magnitude < 0x1p-14 {  // subnormal half: round to a multiple of 2^-24
            return sign | UInt16((magnitude * 0x1p24).rounded(.toNearestOrEven))
        }
        let exponent = Int((b >> 23) & 0xFF) - 127 + 15
        var mantissa = (b & 0x7F_FFFF) >> 13
        let rest = b & 0x1FFF
        var e = UInt16(exponent)
        if rest > 0x1000 || (rest == 0x1000 && mantissa & 1 == 1) {
            mantissa += 1
            if mantissa == 0x400 { mantissa = 0; e += 1 }
        }
        return sign | (e << 10) | UInt16(mantissa)
    }
}
