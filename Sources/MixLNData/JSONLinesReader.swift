import Foundation

/// Parses JSON Lines records into documents, naming the file and 1-based line of any problem.
enum JSONLinesReader {
    /// All documents of a whole JSON Lines text (used by tests and small inputs).
    static func read(_ data: Data, path: String) throws -> [Document] {
        let decoder = JSONDecoder()
        var documents: [Document] = []
        var lineNumber = 0
        for rawLine in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            let document = try Data(rawLine).withUnsafeBytes {
                try parse($0, decoder: decoder, path: path, lineNumber: lineNumber)
            }
            if let document { documents.append(document) }
        }
        return documents
    }

    /// The document of one line; nil for a blank line or an empty record.
    /// - Throws: `.malformedJSON` or `.invalidRecord` naming `path` and `lineNumber`.
    static func parse(_ line: UnsafeRawBufferPointer, decoder: JSONDecoder, path: String,
                      lineNumber: Int) throws -> Document? {
        guard line.contains(where: { !isASCIIWhitespace($0) }) else { return nil }
        let record: Record
        do {
            record = try decoder.decode(Record.self, from: Data(line))
        } catch let problem as Record.Problem {
            throw DataError.invalidRecord(path: path, line: lineNumber, expected: problem.expected)
        } catch DecodingError.typeMismatch {
            throw DataError.invalidRecord(path: path, line: lineNumber, expected: "a JSON object")
        } catch {
            throw DataError.malformedJSON(path: path, line: lineNumber, reason: reason(error))
        }
        switch record {
        case .text(let text) where !text.isEmpty:
            return .text(text)
        case .tokens(let ids) where !ids.isEmpty:
            guard let narrow = ids.firstIndex(where: { Int32(exactly: $0) == nil }) else {
                return .tokens(ids.map { Int32($0) })
            }
            throw DataError.invalidRecord(
                path: path, line: lineNumber,
                expected: "\"input_ids\"[\(narrow)] = \(ids[narrow]) to fit in Int32")
        default:
            return nil
        }
    }

    static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x0B || byte == 0x0C
    }

    /// The most specific one-line reason the decoder gives.
    static func reason(_ error: Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error {
            if let underlying = context.underlyingError {
                return oneLine("\(underlying)")
            }
            return oneLine(context.debugDescription)
        }
        return oneLine("\(error)")
    }

    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    /// One JSON Lines record: `input_ids` (preferred) or `text`.
    enum Record: Decodable {
        case text(String)
        case tokens([Int64])

        /// A record that is a JSON object but not of the expected shape.
        struct Problem: Error {
            let expected: String
        }

        enum CodingKeys: String, CodingKey {
            case text
            case inputIds = "input_ids"
        }

        init(from decoder: Decoder) throws {
            let fields = try decoder.container(keyedBy: CodingKeys.self)
            if fields.contains(.inputIds), try !fields.decodeNil(forKey: .inputIds) {
                guard let ids = try? fields.decode([Int64].self, forKey: .inputIds) else {
                    throw Problem(expected: "\"input_ids\" to be an array of integers")
                }
                self = .tokens(ids)
            } else if fields.contains(.text), try !fields.decodeNil(forKey: .text) {
                guard let text = try? fields.decode(String.self, forKey: .text) else {
                    throw Problem(expected: "\"text\" to be a string")
                }
                self = .text(text)
            } else {
                throw Problem(expected: "an object with a \"text\" string or an \"input_ids\" array of integers")
            }
        }
    }
}
