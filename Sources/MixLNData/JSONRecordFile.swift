import Foundation

/// The records of a fine-tuning file: a JSON array of objects, or JSON Lines (one object a line,
/// blank lines skipped), each with the 1-based line it starts on, for messages that name it.
/// Shared by `ConversationReader` (`sft`) and `PreferenceReader` (`dpo`).
public enum JSONRecordFile {
    /// One record and the line it starts on.
    public struct Record {
        public var object: [String: Any]
        public var line: Int
    }

    /// Every record of `path`, in file order.
    /// - Throws: `DataError` naming the file (and line): missing, unreadable, malformed JSON, an
    ///   element that is not a JSON object, or no record at all.
    public static func read(path: String) throws -> [Record] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError.noSuchFile(path) }
        guard !isDirectory.boolValue else { throw DataError.unreadable(path: path, reason: "is a directory, not a file of records") }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw DataError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        let bytes = [UInt8](data)
        var values: [(value: Any, line: Int)] = []
        if bytes.first(where: { !JSONLinesReader.isASCIIWhitespace($0) }) == UInt8(ascii: "[") {
            let array: Any
            do { array = try JSONSerialization.jsonObject(with: data) } catch {
                throw DataError.malformedJSON(path: path, line: 1, reason: JSONLinesReader.reason(error))
            }
            let elements = array as? [Any] ?? []
            let lines = elementLines(bytes)
            values = elements.enumerated().map { ($1, $0 < lines.count ? lines[$0] : 1) }
        } else {
            for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
            where line.contains(where: { !JSONLinesReader.isASCIIWhitespace($0) }) {
                do { values.append((try JSONSerialization.jsonObject(with: Data(line)), index + 1)) } catch {
                    throw DataError.malformedJSON(path: path, line: index + 1, reason: JSONLinesReader.reason(error))
                }
            }
        }
        guard !values.isEmpty else { throw DataError.emptyCorpus(path) }
        return try values.map { value, line in
            guard let object = value as? [String: Any] else { throw DataError.invalidRecord(path: path, line: line, expected: "a JSON object") }
            return Record(object: object, line: line)
        }
    }

    /// The 1-based line on which each element of a top-level JSON array starts.
    static func elementLines(_ bytes: [UInt8]) -> [Int] {
        var lines: [Int] = [], line = 1, depth = 0, inString = false, escaped = false, expecting = false
        for byte in bytes {
            if byte == UInt8(ascii: "\n") { line += 1 }
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            if JSONLinesReader.isASCIIWhitespace(byte) { continue }
            if depth == 1, expecting, byte != UInt8(ascii: "]") {
                lines.append(line)
                expecting = false
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth == 1 { expecting = true }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            case UInt8(ascii: ","): if depth == 1 { expecting = true }
            default: break
            }
        }
        return lines
    }
}
