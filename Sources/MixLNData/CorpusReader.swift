import Foundation

/// Reads a whole corpus into memory as documents: `DocumentStream` collected into an array.
///
/// Accepts every layout `DocumentStream` reads (text files and folders, JSON Lines, gzip JSON
/// Lines in C4's layout, folders of those). Use the stream itself for corpora that do not fit in
/// memory.
public enum CorpusReader {
    /// The documents at `path`, in a deterministic order.
    /// - Throws: `DataError` naming the file and line of any problem, or `.emptyCorpus` when
    ///   nothing remains after dropping empty documents.
    public static func readDocuments(at path: String, badLines: BadLinePolicy = .fail) throws -> [Document] {
        let stream = try DocumentStream(path: path, badLines: badLines)
        var documents: [Document] = []
        while let document = try stream.next() { documents.append(document) }
        guard !documents.isEmpty else { throw DataError.emptyCorpus(path) }
        return documents
    }
}
