/// Reads GGUF's little-endian scalars and length-prefixed strings from the start of a file,
/// refusing to read past its end; `field` names what is being read in the error.
struct GGUFCursor {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset = 0

    init(bytes: UnsafeRawBufferPointer, path: String) {
        self.bytes = bytes
        self.path = path
    }

    /// Bytes left after the cursor.
    var remaining: Int { bytes.count - offset }

    mutating func read<I: FixedWidthInteger>(_: I.Type, _ field: @autoclosure () -> String) throws -> I {
        guard remaining >= MemoryLayout<I>.size else {
            throw GGUFError(path, "truncated: \(field()) at byte \(offset) runs past the end of the \(bytes.count)-byte file")
        }
        let value = I(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: I.self))
        offset += MemoryLayout<I>.size
        return value
    }

    /// A count or size stored as uint64, checked to fit an `Int`.
    mutating func readCount(_ field: @autoclosure () -> String) throws -> Int {
        let value = try read(UInt64.self, field())
        guard value <= UInt64(Int.max) else { throw GGUFError(path, "\(field()) = \(value) is impossibly large") }
        return Int(value)
    }

    /// A GGUF string: uint64 byte length, then that many bytes of UTF-8 (no terminator).
    mutating func readString(_ field: @autoclosure () -> String) throws -> String {
        let start = offset
        let length = try read(UInt64.self, "the length of \(field())")
        guard length <= UInt64(remaining) else {
            throw GGUFError(path, "truncated: \(field()) at byte \(start) claims \(length) bytes, but only \(remaining) remain in the file")
        }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))])
        offset += Int(length)
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw GGUFError(path, "\(field()) at byte \(start) is not valid UTF-8")
        }
        return text
    }
}
