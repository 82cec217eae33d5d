import Foundation

/// What to do with a JSON Lines record that cannot be read.
public enum BadLinePolicy: String, CaseIterable, Sendable {
    /// Stop with an error naming the file and line (the default: bad data is usually a bad file).
    case fail
    /// Drop the line, count it in `DocumentStream.skippedLines`, and go on.
    case skip
}

/// Anything that hands out documents one at a time; `nil` at the end.
public protocol DocumentSource: AnyObject {
    func next() throws -> Document?
}

/// Reads a corpus one document at a time, in bounded memory: one line (or one paragraph of a
/// text file) at a time, never the whole corpus.
///
/// Accepted inputs:
/// - a text file (any name not listed below): documents are separated by one or more blank lines
///   (whitespace-only lines count as blank; any newline convention; a leading BOM is dropped);
/// - JSON Lines, `.jsonl` or `.json`: one object per non-empty line with a `text` string or an
///   `input_ids` array of integers (`input_ids` wins when both are present);
/// - gzip-compressed JSON Lines, `.jsonl.gz` or `.json.gz`: C4's layout
///   (`c4-train.00000-of-01024.json.gz`, objects with `text`, `timestamp`, `url`), decompressed
///   through the system zlib;
/// - a directory: every `*.txt`, `*.jsonl`, `*.jsonl.gz` and `*.json.gz` below it, recursively, in
///   the sorted order of their relative paths (plain `*.json` files are left out so that config
///   files and shard manifests beside a corpus are not mistaken for data).
///
/// Records with empty text or empty `input_ids` are dropped silently, as empty paragraphs are.
public final class DocumentStream: DocumentSource {
    public enum Format: Sendable { case text, jsonLines }

    /// The path given: a file or a directory.
    public let path: String
    /// The files read, in order.
    public let files: [String]
    public let badLinePolicy: BadLinePolicy
    /// Bad JSON Lines records dropped so far under `.skip`.
    public private(set) var skippedLines = 0
    /// Documents returned so far.
    public private(set) var documentsRead = 0

    private var fileIndex = -1
    private var reader: LineReader?
    private var format: Format = .text
    private var finishedFilesBytes = 0 // decompressed bytes of the files already closed
    private var finishedFilesDiskBytes = 0
    private let decoder = JSONDecoder()
    private var paragraph: [String] = []

    /// - Throws: `DataError.noSuchFile` when `path` does not exist.
    public init(path: String, badLines: BadLinePolicy = .fail) throws {
        self.path = path
        self.badLinePolicy = badLines
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.noSuchFile(path)
        }
        files = isDirectory.boolValue ? try Self.corpusFiles(under: path) : [path]
    }

    /// Decompressed bytes read so far (the text the tokenizer sees, plus JSON and newlines).
    public var bytesRead: Int { finishedFilesBytes + (reader?.bytesRead ?? 0) }
    /// Bytes of the files on disk read so far (compressed bytes for gzip).
    public var fileBytesRead: Int { finishedFilesDiskBytes + (reader?.fileBytesRead ?? 0) }

    public func next() throws -> Document? {
        while true {
            if reader == nil {
                guard try openNextFile() else { return nil }
            }
            if let document = try nextInCurrentFile() {
                documentsRead += 1
                return document
            }
            finishedFilesBytes += reader?.bytesRead ?? 0
            finishedFilesDiskBytes += reader?.fileBytesRead ?? 0
            reader = nil
        }
    }

    /// The format a file is read in, from its name.
    public static func format(of path: String) -> Format {
        let name = path.lowercased()
        for suffix in [".jsonl", ".json", ".jsonl.gz", ".json.gz"] where name.hasSuffix(suffix) { return .jsonLines }
        return .text
    }

    static func isGzip(_ path: String) -> Bool { path.lowercased().hasSuffix(".gz") }

    /// Every corpus file below `directory`, sorted by relative path.
    static func corpusFiles(under directory: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw DataError.unreadable(path: directory, reason: "cannot list the directory")
        }
        var relative: [String] = []
        while let entry = walker.nextObject() as? String {
            let name = entry.lowercased()
            if (walker.fileAttributes?[.type] as? FileAttributeType) != .typeDirectory,
               [".txt", ".jsonl", ".jsonl.gz", ".json.gz"].contains(where: { name.hasSuffix($0) }) {
                relative.append(entry)
            }
        }
        return relative.sorted().map { URL(fileURLWithPath: directory).appendingPathComponent($0).path }
    }

    private func openNextFile() throws -> Bool {
        fileIndex += 1
        guard fileIndex < files.count else { return false }
        let file = files[fileIndex]
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
            throw DataError.unreadable(path: file, reason: "is a directory")
        }
        let source: ByteSource = Self.isGzip(file) ? try GzipFileSource(path: file) : try PlainFileSource(path: file)
        reader = LineReader(source: source)
        format = Self.format(of: file)
        paragraph.removeAll()
        queued.removeAll()
        return true
    }

    private func nextInCurrentFile() throws -> Document? {
        guard let reader else { return nil }
        let file = files[fileIndex]
        switch format {
        case .jsonLines:
            while let parsed = try reader.nextLine({ line in
                try parseRecord(line, file: file, lineNumber: reader.lineNumber)
            }) {
                if let document = parsed { return document }
            }
            return nil
        case .text:
            while queued.isEmpty, let line = try reader.nextLine(Self.plainLine) {
                // Fast path: a line with no CR, VT, FF or possible Unicode newline/BOM is one piece.
                if let plain = line.plain, reader.lineNumber > 1 {
                    if plain.isEmpty { flushParagraph() } else { paragraph.append(plain) }
                    continue
                }
                var text = Substring(line.plain ?? line.text)
                if reader.lineNumber == 1, text.first == "\u{FEFF}" { text = text.dropFirst() }
                if text.last == "\r" { text = text.dropLast() } // CRLF
                // A lone `\r` or a Unicode line separator inside the line ends a line too.
                for piece in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
                    if piece.allSatisfy(\.isWhitespace) {
                        flushParagraph()
                    } else {
                        paragraph.append(String(piece))
                    }
                }
            }
            if queued.isEmpty { flushParagraph() } // the end of the file ends the last paragraph
            return queued.isEmpty ? nil : .text(queued.removeFirst())
        }
    }

    /// A text line: `plain` is set (empty for a blank line) when the bytes hold no `\r`, `\v`, `\f`
    /// and no lead byte of U+0085, U+2028/9 or a BOM (0xC2, 0xE2, 0xEF), and are either plainly
    /// ASCII-blank or hold a visible ASCII byte — then no line split or Unicode blank can hide in it.
    private struct TextLine {
        var plain: String?
        var text: String
    }

    private static func plainLine(_ raw: UnsafeRawBufferPointer) -> TextLine {
        var visibleASCII = false, nonASCII = false
        for byte in raw {
            switch byte {
            case 0x0B, 0x0C, 0x0D, 0xC2, 0xE2, 0xEF:
                return TextLine(plain: nil, text: String(decoding: raw, as: UTF8.self))
            case 0x20, 0x09: break
            case 0x80...: nonASCII = true
            default: visibleASCII = true
            }
        }
        if !visibleASCII && nonASCII { return TextLine(plain: nil, text: String(decoding: raw, as: UTF8.self)) }
        return visibleASCII ? TextLine(plain: String(decoding: raw, as: UTF8.self), text: "") : TextLine(plain: "", text: "")
    }

    /// Completed paragraphs not yet returned (several when one physical line holds lone `\r`s).
    private var queued: [String] = []

    private func flushParagraph() {
        guard !paragraph.isEmpty else { return }
        queued.append(paragraph.joined(separator: "\n"))
        paragraph.removeAll(keepingCapacity: true)
    }

    /// One JSON Lines record: a document, nil for a blank line, an empty record or a skipped bad
    /// line; throws for a bad line under `.fail`.
    private func parseRecord(_ line: UnsafeRawBufferPointer, file: String, lineNumber: Int) throws -> Document? {
        do {
            return try JSONLinesReader.parse(line, decoder: decoder, path: file, lineNumber: lineNumber)
        } catch let error as DataError where badLinePolicy == .skip {
            switch error {
            case .malformedJSON, .invalidRecord:
                skippedLines += 1
                return nil
            default:
                throw error
            }
        }
    }
}
