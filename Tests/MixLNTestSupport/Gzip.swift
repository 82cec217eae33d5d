import CZlib
import Foundation

/// Writes `text` gzip-compressed to `path` with the system zlib, as C4's shards are.
public func writeGzip(_ text: String, to path: String) throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    guard let file = gzopen(path, "wb") else { throw CocoaError(.fileWriteUnknown) }
    let bytes = Array(text.utf8)
    let written = bytes.isEmpty ? 0 : bytes.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    guard gzclose(file) == Z_OK, Int(written) == bytes.count else { throw CocoaError(.fileWriteUnknown) }
}

/// C4's layout: one JSON object per line with `text`, `timestamp` and `url`.
public func c4Lines(_ texts: [String]) -> String {
    texts.enumerated().map { i, text in
        let object: [String: String] = ["text": text, "timestamp": "2019-04-2\(i % 10)T12:00:00Z", "url": "https://example.com/\(i)"]
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }.joined(separator: "\n") + "\n"
}
