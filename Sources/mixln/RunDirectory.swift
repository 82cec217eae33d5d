import Foundation

/// A run's output folder: `run.json`, `metrics.jsonl`, `summary.json`. JSON files are written
/// atomically (temporary file, then rename); metrics are appended and flushed line by line.
final class RunDirectory {
    let url: URL
    /// False for the ranks of a data-parallel run other than 0: every write is then skipped.
    let writes: Bool
    private var metrics: FileHandle?

    /// Creates the folder (and parents) and checks it can be written, before any work starts;
    /// with `writes` false it touches nothing and every write does nothing.
    init(path: String, writes: Bool = true) throws {
        url = URL(fileURLWithPath: path)
        self.writes = writes
        guard writes else { return }
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            let probe = url.appendingPathComponent(".write-test-\(getpid())")
            try Data().write(to: probe)
            try FileManager.default.removeItem(at: probe)
        } catch {
            throw CLIError("cannot write to output directory '\(path)': \(Self.reason(error))")
        }
    }

    /// Writes `value` as pretty JSON to `name`, atomically.
    func writeJSON<Value: Encodable>(_ value: Value, to name: String) throws {
        let data = try JSONCoding.pretty.encode(value)
        try write(data + Data("\n".utf8), to: name)
    }

    func write(_ data: Data, to name: String) throws {
        guard writes else { return }
        let target = url.appendingPathComponent(name)
        let temporary = url.appendingPathComponent(".\(name).tmp-\(getpid())")
        do {
            try data.write(to: temporary)
            guard rename(temporary.path, target.path) == 0 else {
                throw CLIError(String(cString: strerror(errno)))
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw CLIError("cannot write \(target.path): \(Self.reason(error))")
        }
    }

    /// Starts a fresh `metrics.jsonl`.
    func startMetrics() throws {
        guard writes else { return }
        let file = url.appendingPathComponent("metrics.jsonl")
        guard FileManager.default.createFile(atPath: file.path, contents: nil),
              let handle = try? FileHandle(forWritingTo: file) else {
            throw CLIError("cannot create \(file.path)")
        }
        metrics = handle
    }

    /// Keeps the metrics of the first `step` updates (dropping what a stopped or killed run wrote
    /// after its last checkpoint) and continues appending to them.
    func resumeMetrics(afterStep step: Int) throws {
        guard writes else { return }
        let file = url.appendingPathComponent("metrics.jsonl")
        let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
        var kept = Data()
        for line in text.split(separator: "\n") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let event = object["event"] as? String else { continue }
            let keep = event == "started" || (["step", "eval", "checkpoint"].contains(event) && (object["step"] as? Int ?? .max) <= step)
            if keep { kept.append(Data(line.utf8)); kept.append(0x0A) }
        }
        try write(kept, to: "metrics.jsonl")
        guard let handle = try? FileHandle(forWritingTo: file) else { throw CLIError("cannot append to \(file.path)") }
        try handle.seekToEnd()
        metrics = handle
    }

    /// Appends one JSON object, `{"event": event, …record's fields}`, as a line.
    func appendMetric<Record: Encodable>(event: String, _ record: Record) throws {
        var data = try JSONCoding.compact.encode(TaggedRecord(event: event, record: record))
        data.append(0x0A)
        try metrics?.write(contentsOf: data)
    }

    deinit { try? metrics?.close() }

    private static func reason(_ error: Error) -> String {
        if let error = error as? CLIError { return error.description }
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return ns.localizedFailureReason ?? ns.localizedDescription
    }
}

/// A record with an `event` key merged into its own keys.
struct TaggedRecord<Record: Encodable>: Encodable {
    let event: String
    let record: Record

    enum CodingKeys: String, CodingKey { case event }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(event, forKey: .event)
        try record.encode(to: encoder)
    }
}

enum JSONCoding {
    static let compact: JSONEncoder = make([.sortedKeys, .withoutEscapingSlashes])

    /// Prints `value` as the one JSON document a `--json` command writes on stdout.
    static func printDocument<Value: Encodable>(_ value: Value) throws {
        print(String(decoding: try compact.encode(value), as: UTF8.self))
    }
    static let pretty: JSONEncoder = make([.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])

    /// Reads what the encoders write (non-finite numbers as strings).
    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }()

    private static func make(_ formatting: JSONEncoder.OutputFormatting) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = formatting
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }
}

/// An error whose message is the whole story, printed as one line.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
