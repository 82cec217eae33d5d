import Foundation

/// Reads the multiple-choice task files `mixln eval-mc` scores, plain or gzip (`.gz`), in either of
/// two layouts (chosen per file by its first record):
///
/// - **Request layout** — lm-evaluation-harness / OLMES request dumps: one JSON object per
///   (question, choice), `{"request": {"context", "continuation"}, "doc_id", "idx", "label",
///   "task_name", "request_type": "loglikelihood", "doc": {…}}`. The lines of one `doc_id` make a
///   question, `idx` is the choice's index and `label` the gold index. Lines with
///   `doc_id ≥ 1000000` are OLMES's unconditional-calibration requests and are skipped.
/// - **Simple layout** — one question per line, `{"context", "choices": [...], "gold"}`, with
///   optional `"target_delimiter"` (default `" "`: the continuation of choice `c` is
///   `target_delimiter + c`, as the harness builds it), `"doc_id"` and `"task_name"`.
///
/// Every problem is a `DataError` naming the file and the 1-based line.
public enum MultipleChoiceTaskReader {
    /// OLMES offsets the `doc_id` of each question's unconditional requests by this much.
    public static let unconditionalDocIDOffset = 1_000_000
    /// The harness's default separator between a context and a choice.
    public static let defaultTargetDelimiter = " "

    /// The questions of `path`; with `limit`, the first `limit` questions in file order.
    public static func read(path: String, limit: Int? = nil) throws -> MultipleChoiceTask {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw DataError.noSuchFile(path) }
        guard !isDirectory.boolValue else { throw DataError.unreadable(path: path, reason: "is a directory, not a task file") }
        let source: ByteSource = path.lowercased().hasSuffix(".gz") ? try GzipFileSource(path: path) : try PlainFileSource(path: path)
        let reader = LineReader(source: source)
        let decoder = JSONDecoder()
        var builder = Builder(path: path)
        while let record = try reader.nextLine({ try parse($0, decoder: decoder, path: path, line: reader.lineNumber) }) {
            if let record { try builder.add(record, line: reader.lineNumber) }
        }
        var questions = try builder.questions()
        guard !questions.isEmpty else {
            throw DataError.invalidRecord(path: path, line: max(reader.lineNumber, 1),
                                          expected: "at least one question (the file holds no records, or only unconditional ones)")
        }
        if let limit { questions = Array(questions.prefix(limit)) }
        return MultipleChoiceTask(path: path, name: builder.taskName ?? taskName(fromFile: path), questions: questions,
                                  skippedUnconditional: builder.skippedUnconditional)
    }

    /// The file's name without its directory and its `.gz`, `.jsonl`, `.json` extensions.
    static func taskName(fromFile path: String) -> String {
        var name = (path as NSString).lastPathComponent
        for suffix in [".gz", ".jsonl", ".json"] where name.lowercased().hasSuffix(suffix) {
            name = String(name.dropLast(suffix.count))
        }
        return name
    }

    /// The record of one line, nil for a blank line.
    private static func parse(_ bytes: UnsafeRawBufferPointer, decoder: JSONDecoder, path: String, line: Int) throws -> TaskRecord? {
        guard bytes.contains(where: { !JSONLinesReader.isASCIIWhitespace($0) }) else { return nil }
        do {
            return try decoder.decode(TaskRecord.self, from: Data(bytes))
        } catch let DecodingError.typeMismatch(type, context) {
            throw DataError.invalidRecord(path: path, line: line, expected: expectation(type, at: context.codingPath))
        } catch let DecodingError.keyNotFound(key, context) {
            let field = keyPath(context.codingPath + [key])
            throw DataError.invalidRecord(path: path, line: line, expected: "a \"\(field)\" field")
        } catch let DecodingError.valueNotFound(type, context) {
            throw DataError.invalidRecord(path: path, line: line, expected: expectation(type, at: context.codingPath))
        } catch {
            throw DataError.malformedJSON(path: path, line: line, reason: JSONLinesReader.reason(error))
        }
    }

    private static func expectation(_ type: Any.Type, at path: [CodingKey]) -> String {
        let what: String
        switch type {
        case is String.Type: what = "a string"
        case is Int.Type: what = "an integer"
        case is [String].Type, is [Any].Type: what = "an array of strings"
        case is [String: Any].Type: what = "a JSON object"
        default: what = path.isEmpty ? "a JSON object" : "of another type"
        }
        return path.isEmpty ? what : "\"\(keyPath(path))\" to be \(what)"
    }

    private static func keyPath(_ path: [CodingKey]) -> String {
        let parts: [String] = path.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }
        return String(parts.joined().drop(while: { $0 == "." }))
    }

    /// Collects records into questions, checking each against the layout's rules.
    private struct Builder {
        let path: String
        var layout: TaskRecord.Layout?
        var layoutLine = 0
        var taskName: String?
        var skippedUnconditional = 0
        var simple: [MultipleChoiceQuestion] = []
        /// Request layout: doc_id → its lines (first line, label, choices by idx), in first-seen order.
        var order: [Int] = []
        var documents: [Int: (line: Int, label: Int, labelLine: Int, choices: [Int: MultipleChoiceQuestion.Choice])] = [:]

        init(path: String) { self.path = path }

        func fail(_ line: Int, _ expected: String) -> DataError { .invalidRecord(path: path, line: line, expected: expected) }

        mutating func add(_ record: TaskRecord, line: Int) throws {
            guard let kind = record.layout else {
                throw fail(line, "a request-layout record (\"request\", \"doc_id\", \"idx\", \"label\") or a simple-layout record (\"context\", \"choices\", \"gold\")")
            }
            if let layout, layout != kind {
                throw fail(line, "a \(layout.rawValue)-layout record like line \(layoutLine) (one layout per file), got a \(kind.rawValue)-layout one")
            }
            if layout == nil { (layout, layoutLine) = (kind, line) }
            if taskName == nil { taskName = record.taskName }
            switch kind {
            case .simple: try addSimple(record, line: line)
            case .request: try addRequest(record, line: line)
            }
        }

        mutating func addSimple(_ record: TaskRecord, line: Int) throws {
            guard let context = record.context else { throw fail(line, "a \"context\" string") }
            guard let choices = record.choices, choices.count >= 2 else {
                throw fail(line, "\"choices\": an array of at least 2 answer strings")
            }
            if let empty = choices.firstIndex(where: \.isEmpty) { throw fail(line, "\"choices\"[\(empty)] to be a non-empty string") }
            guard let gold = record.gold else { throw fail(line, "a \"gold\" integer (the index of the correct choice)") }
            guard choices.indices.contains(gold) else {
                throw fail(line, "\"gold\" in 0..<\(choices.count) (the number of choices), got \(gold)")
            }
            let delimiter = record.targetDelimiter ?? MultipleChoiceTaskReader.defaultTargetDelimiter
            let options = choices.map {
                MultipleChoiceQuestion.Choice(context: context, continuation: delimiter + $0, characters: $0.unicodeScalars.count, line: line)
            }
            simple.append(MultipleChoiceQuestion(docID: record.docID ?? simple.count, choices: options, gold: gold, line: line))
        }

        mutating func addRequest(_ record: TaskRecord, line: Int) throws {
            if let type = record.requestType, type != "loglikelihood" {
                throw fail(line, "\"request_type\" \"loglikelihood\" (multiple-choice requests), got \"\(type)\"")
            }
            guard let request = record.request else { throw fail(line, "a \"request\" object") }
            guard let docID = record.docID else { throw fail(line, "a \"doc_id\" integer") }
            if docID >= MultipleChoiceTaskReader.unconditionalDocIDOffset {
                skippedUnconditional += 1
                return
            }
            guard let idx = record.idx, idx >= 0 else { throw fail(line, "an \"idx\" integer ≥ 0 (the choice's index)") }
            guard let label = record.label else { throw fail(line, "a \"label\" integer (the index of the correct choice)") }
            guard !request.continuation.isEmpty else { throw fail(line, "\"request.continuation\" to be a non-empty string") }
            let choice = MultipleChoiceQuestion.Choice(context: request.context, continuation: request.continuation, line: line)
            guard var document = documents[docID] else {
                order.append(docID)
                documents[docID] = (line, label, line, [idx: choice])
                return
            }
            guard document.label == label else {
                throw fail(line, "\"label\" \(document.label) as on line \(document.labelLine) (doc_id \(docID)), got \(label)")
            }
            if let earlier = document.choices[idx] {
                throw fail(line, "one line per choice: doc_id \(docID) idx \(idx) already appeared on line \(earlier.line)")
            }
            document.choices[idx] = choice
            documents[docID] = document
        }

        func questions() throws -> [MultipleChoiceQuestion] {
            guard layout == .request else { return simple }
            return try order.map { docID in
                let document = documents[docID]!
                let count = document.choices.count
                guard count >= 2 else {
                    throw fail(document.line, "at least 2 choices for doc_id \(docID), got \(count) line\(count == 1 ? "" : "s")")
                }
                let indices = document.choices.keys.sorted()
                guard indices == Array(0..<count) else {
                    throw fail(document.line, "the choices of doc_id \(docID) to be idx 0…\(count - 1), got \(indices.map(String.init).joined(separator: ", "))")
                }
                guard (0..<count).contains(document.label) else {
                    throw fail(document.labelLine, "\"label\" in 0..<\(count) (doc_id \(docID) has \(count) choices), got \(document.label)")
                }
                return MultipleChoiceQuestion(docID: docID, choices: indices.map { document.choices[$0]! },
                                              gold: document.label, line: document.line)
            }
        }
    }
}

/// One line of a task file, in either layout (fields of the other layout are nil).
struct TaskRecord: Decodable {
    enum Layout: String { case request, simple }

    struct Request: Decodable {
        var context: String
        var continuation: String
    }

    var request: Request?
    var requestType: String?
    var docID: Int?
    var idx: Int?
    var label: Int?
    var taskName: String?
    var context: String?
    var choices: [String]?
    var gold: Int?
    var targetDelimiter: String?

    enum CodingKeys: String, CodingKey {
        case request, requestType = "request_type", docID = "doc_id", idx, label, taskName = "task_name"
        case context, choices, gold, targetDelimiter = "target_delimiter"
    }

    /// The layout the record's fields say, nil when they fit neither.
    var layout: Layout? {
        if request != nil { return .request }
        if context != nil || choices != nil || gold != nil { return .simple }
        return nil
    }
}
