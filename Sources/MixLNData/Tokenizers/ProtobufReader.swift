/// A minimal protobuf wire-format reader: varints, length-delimited fields, fixed32/fixed64, with
/// unknown fields skipped. Enough for SentencePiece's `ModelProto`; every read is bounds-checked
/// and a cut-off field throws `TokenizerError.truncated` with its byte offset.
struct ProtobufReader {
    enum WireType: UInt8 { case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5 }

    let bytes: [UInt8]
    let path: String
    /// Absolute offset of `bytes[range.lowerBound]` in the file, for messages.
    private(set) var position: Int
    let end: Int

    init(bytes: [UInt8], range: Range<Int>? = nil, path: String) {
        self.bytes = bytes
        self.path = path
        position = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var isAtEnd: Bool { position >= end }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func nextField() throws -> (number: Int, wire: WireType)? {
        guard !isAtEnd else { return nil }
        let start = position
        let key = try varint(field: "field key")
        guard let wire = WireType(rawValue: UInt8(key & 7)) else {
            throw TokenizerError.malformed(path: path, reason: "unsupported protobuf wire type \(key & 7) at byte \(start)")
        }
        let number = Int(key >> 3)
        guard number > 0 else {
            throw TokenizerError.malformed(path: path, reason: "protobuf field number 0 at byte \(start)")
        }
        return (number, wire)
    }

    mutating func varint(field: String) throws -> UInt64 {
        let start = position
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < end else { throw TokenizerError.truncated(path: path, offset: start, field: field) }
            let byte = bytes[position]
            position += 1
            guard shift < 64 else {
                throw TokenizerError.malformed(path: path, reason: "varint longer than 10 bytes at byte \(start) (\(field))")
            }
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }

    /// A length-delimited field's byte range (absolute offsets into `bytes`).
    mutating func lengthDelimited(field: String) throws -> Range<Int> {
        let start = position
        let length = try varint(field: field)
        guard length <= UInt64(end - position) else {
            throw TokenizerError.truncated(path: path, offset: start, field: field)
        }
        let range = position..<(position + Int(length))
        position = range.upperBound
        return range
    }

    mutating func fixed32(field: String) throws -> UInt32 {
        guard end - position >= 4 else { throw TokenizerError.truncated(path: path, offset: position, field: field) }
        var value: UInt32 = 0
        for k in 0..<4 { value |= UInt32(bytes[position + k]) << (8 * UInt32(k)) }
        position += 4
        return value
    }

    mutating func string(field: String) throws -> String {
        let range = try lengthDelimited(field: field)
        guard let text = String(validating: bytes[range], as: UTF8.self) else {
            throw TokenizerError.malformed(path: path, reason: "\(field) at byte \(range.lowerBound) is not valid UTF-8")
        }
        return text
    }

    mutating func int32(field: String) throws -> Int32 {
        Int32(truncatingIfNeeded: Int64(bitPattern: try varint(field: field)))
    }

    mutating func bool(field: String) throws -> Bool { try varint(field: field) != 0 }

    /// Skips a field of `wire` type that we do not read.
    mutating func skip(_ wire: WireType, field: Int) throws {
        let name = "field \(field)"
        switch wire {
        case .varint: _ = try varint(field: name)
        case .lengthDelimited: _ = try lengthDelimited(field: name)
        case .fixed32:
            guard end - position >= 4 else { throw TokenizerError.truncated(path: path, offset: position, field: name) }
            position += 4
        case .fixed64:
            guard end - position >= 8 else { throw TokenizerError.truncated(path: path, offset: position, field: name) }
            position += 8
        }
    }

    /// Throws unless a field of `number` has the wire type `expected`.
    func expect(_ wire: WireType, _ expected: WireType, field: String) throws {
        guard wire == expected else {
            throw TokenizerError.malformed(path: path, reason: "\(field) has wire type \(wire.rawValue), expected \(expected.rawValue) (before byte \(position))")
        }
    }
}
