import Foundation

/// Reads supervised fine-tuning records — a JSON array file or JSON Lines — in the layouts of
/// LLaMA-Factory's and FastChat's data sets:
///
/// - Alpaca: `{"instruction", "input"?, "output", "system"?, "history"?: [[query, reply], …]}`; the
///   input, when not empty, follows the instruction after a blank line;
/// - `{"prompt", "response", "system"?}`;
/// - chat: `{"messages": [{"role": "system" | "user" | "assistant", "content"}, …]}`;
/// - ShareGPT: `{"conversations": [{"from": "human" | "gpt" | "system", "value"}, …], "system"?}`
///   (`user`, `assistant`, `model` and `bot` are accepted for `from` too).
///
/// A conversation must end with a non-empty reply. Problems are `DataError`s naming the file and the
/// record's 1-based line.
public enum ConversationReader {
    public static func read(path: String) throws -> [Conversation] {
        try JSONRecordFile.read(path: path).map { record in
            do {
                return Conversation(turns: try turns(record.object), line: record.line)
            } catch let problem as Problem {
                throw DataError.invalidRecord(path: path, line: record.line, expected: problem.expected)
            }
        }
    }

    /// ShareGPT's `from` names and the roles they stand for.
    static let shareGPTRoles: [String: Conversation.Role] = [
        "human": .user, "user": .user, "gpt": .assistant, "assistant": .assistant, "model": .assistant, "bot": .assistant, "system": .system,
    ]

    /// What a record should have been.
    struct Problem: Error { let expected: String }

    static func turns(_ object: [String: Any]) throws -> [Conversation.Turn] {
        var turns = try systemTurns(object)
        if object["conversations"] != nil {
            turns += try listed(object, key: "conversations", roleKey: "from", textKey: "value", roles: shareGPTRoles)
        } else if object["messages"] != nil {
            turns += try listed(object, key: "messages", roleKey: "role", textKey: "content",
                                roles: ["user": .user, "assistant": .assistant, "system": .system])
        } else if object["instruction"] != nil {
            for (i, pair) in try array(object["history"] ?? [Any](), "history").enumerated() {
                guard let pair = pair as? [Any], pair.count == 2, let query = pair[0] as? String, let reply = pair[1] as? String else {
                    throw Problem(expected: "\"history\"[\(i)] to be a [query, reply] pair of strings")
                }
                turns += [.init(.user, query), .init(.assistant, reply)]
            }
            let instruction = try string(object, "instruction"), input = try object["input"].map { _ in try string(object, "input") } ?? ""
            turns += [.init(.user, input.isEmpty ? instruction : instruction + "\n\n" + input), .init(.assistant, try string(object, "output"))]
        } else if object["prompt"] != nil {
            turns += [.init(.user, try string(object, "prompt")), .init(.assistant, try string(object, "response"))]
        } else {
            throw Problem(expected: "an Alpaca (\"instruction\", \"output\"), {\"prompt\", \"response\"}, chat (\"messages\") or ShareGPT (\"conversations\") record")
        }
        guard let last = turns.last, last.role == .assistant else {
            throw Problem(expected: "the conversation to end with a reply (an assistant / gpt turn)")
        }
        if let empty = turns.firstIndex(where: { $0.role == .assistant && $0.content.isEmpty }) {
            let field = object["output"] != nil ? "\"output\"" : object["response"] != nil ? "\"response\"" : "reply \(empty)"
            throw Problem(expected: "a non-empty response (\(field) is empty)")
        }
        return turns
    }

    /// The record's `"system"` text as a turn (none when absent or empty).
    static func systemTurns(_ object: [String: Any]) throws -> [Conversation.Turn] {
        guard let system = object["system"] else { return [] }
        guard let text = system as? String else { throw Problem(expected: "\"system\" to be a string") }
        return text.isEmpty ? [] : [.init(.system, text)]
    }

    static func string(_ object: [String: Any], _ key: String) throws -> String {
        guard let value = object[key] else { throw Problem(expected: "a \"\(key)\" string") }
        guard let text = value as? String else { throw Problem(expected: "\"\(key)\" to be a string") }
        return text
    }

    private static func array(_ value: Any, _ key: String) throws -> [Any] {
        guard let array = value as? [Any] else { throw Problem(expected: "\"\(key)\" to be an array") }
        return array
    }

    static func listed(_ object: [String: Any], key: String, roleKey: String, textKey: String,
                       roles: [String: Conversation.Role]) throws -> [Conversation.Turn] {
        let items = try array(object[key]!, key)
        guard !items.isEmpty else { throw Problem(expected: "\"\(key)\" to hold at least one turn") }
        return try items.enumerated().map { i, item in
            guard let turn = item as? [String: Any], let name = turn[roleKey] as? String, let text = turn[textKey] as? String else {
                throw Problem(expected: "\"\(key)\"[\(i)] to be {\"\(roleKey)\": …, \"\(textKey)\": a string}")
            }
            guard let role = roles[name] else {
                throw Problem(expected: "\"\(key)\"[\(i)].\(roleKey) to be one of \(roles.keys.sorted().joined(separator: ", ")), got \"\(name)\"")
            }
            return .init(role, text)
        }
    }
}
