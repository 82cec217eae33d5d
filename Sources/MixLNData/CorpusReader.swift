import Foundation

/// Reads a corpus from disk into documents.
///
/// Accepted layouts:
/// - a text file (any extension other than `.jsonl`/`.json`): documents are separated by one or
///   more blank lines (whitespace-only lines count as blank);
/// - a directory: every `*.txt` file below it, recursively, in path order, each split as above;
/// - JSON Lines (`.jsonl` or `.json`): one object per non-empty line, with an `input_ids` array
///   of integers (used as is) or a `text` string. When a record has both, `input_ids` wins: a
///   pre-tokenized corpus means its ids to be used.
public enum CorpusReader {
    /// The documents at `path`, in a deterministic order.
    /// - Throws: `DataError` naming the file and line of any problem, or `.emptyCorpus` when
    ///   nothing remains after dropping empty documents.
    public static func readDocuments(at path: String) throws -> [Document] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError.noSuchFile(path)
        }
        let documents: [Document]
        if isDirectory.boolValue {
            documents = try textFiles(under: path).flatMap { try readTextFile($0) }
        } else if isJSONLines(path) {
            documents = try JSONLinesReader.read(try contents(of: path), path: path)
        } else {
            documents = try readTextFile(path)
        }
        guard !documents.isEmpty else { throw DataError.emptyCorpus(path) }
        return documents
    }

    static func isJSONLines(_ path: String) -> Bool {
        let ext = URL(fileURLWithPath: path).pathExtension.lowercased()
        return ext == "jsonl" || ext == "json"
    }

    /// Every `*.txt` file below `directory`, sorted by path.
    static func textFiles(under directory: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw DataError.unreadable(path: directory, reason: "cannot list the directory")
        }
        var relative: [String] = []
        while let entry = walker.nextObject() as? String {
            if entry.lowercased().hasSuffix(".txt") { relative.append(entry) }
        }
        return relative.sorted().map { URL(fileURLWithPath: directory).appendingPathComponent($0).path }
    }

    static func readTextFile(_ path: String) throws -> [Document] {
        let text = String(decoding: try contents(of: path), as: UTF8.self)
        return ParagraphSplitter.split(text).map(Document.text)
    }

    static func contents(of path: String) throws -> Data {
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DataError.unreadable(path: path, reason: error.localizedDescription)
        }
    }
}
