/// Splits text into documents at blank lines.
enum ParagraphSplitter {
    /// The non-empty runs of non-blank lines in `text`, each joined with `"\n"`.
    ///
    /// Any newline convention (`\n`, `\r\n`, `\r`) ends a line; a line holding only whitespace is
    /// blank. A leading byte-order mark is dropped. Indentation inside a document is kept.
    static func split(_ text: String) -> [String] {
        let body = text.first == "\u{FEFF}" ? text.dropFirst() : Substring(text)
        var documents: [String] = []
        var lines: [Substring] = []
        func flush() {
            if !lines.isEmpty { documents.append(lines.joined(separator: "\n")) }
            lines.removeAll(keepingCapacity: true)
        }
        for line in body.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            if line.allSatisfy(\.isWhitespace) { flush() } else { lines.append(line) }
        }
        flush()
        return documents
    }
}
