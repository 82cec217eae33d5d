/// Reads DPO preference records — a JSON array file or JSON Lines — in two layouts:
///
/// - `{"prompt": string, "chosen": string, "rejected": string, "system"?: string}` (TRL's standard
///   preference format);
/// - the ShareGPT pair of LLaMA-Factory's `dpo_en_demo.json`: `{"conversations": [{"from", "value"}, …],
///   "chosen": {"from": "gpt", "value"}, "rejected": {"from": "gpt", "value"}, "system"?}`, the
///   conversation ending with the human turn both replies answer (earlier exchanges are context).
///
/// Each pair needs two non-empty replies that differ. Problems are `DataError`s naming the file and
/// the record's 1-based line.
public enum PreferenceReader {
    public static func read(path: String) throws -> [PreferencePair] {
        try JSONRecordFile.read(path: path).map { record in
            do {
                return try pair(record.object, line: record.line)
            } catch let problem as ConversationReader.Problem {
                throw DataError.invalidRecord(path: path, line: record.line, expected: problem.expected)
            }
        }
    }

    typealias Problem = ConversationReader.Problem

    static func pair(_ object: [String: Any], line: Int) throws -> PreferencePair {
        var prompt = try ConversationReader.systemTurns(object)
        let chosen: String, rejected: String
        if object["conversations"] != nil {
            prompt += try ConversationReader.listed(object, key: "conversations", roleKey: "from", textKey: "value",
                                                   roles: ConversationReader.shareGPTRoles)
            guard prompt.last?.role == .user else {
                throw Problem(expected: "\"conversations\" to end with a human turn (the prompt that \"chosen\" and \"rejected\" answer)")
            }
            chosen = try reply(object, "chosen")
            rejected = try reply(object, "rejected")
        } else if object["prompt"] != nil {
            prompt.append(.init(.user, try ConversationReader.string(object, "prompt")))
            chosen = try ConversationReader.string(object, "chosen")
            rejected = try ConversationReader.string(object, "rejected")
        } else {
            throw Problem(expected: "a preference pair: {\"prompt\", \"chosen\", \"rejected\"} or ShareGPT {\"conversations\", \"chosen\", \"rejected\"}")
        }
        for (key, text) in [("chosen", chosen), ("rejected", rejected)] where text.isEmpty {
            throw Problem(expected: "a non-empty \"\(key)\" reply")
        }
        guard chosen != rejected else { throw Problem(expected: "\"chosen\" and \"rejected\" to differ (they are identical)") }
        return PreferencePair(prompt: prompt, chosen: chosen, rejected: rejected, line: line)
    }

    /// A ShareGPT reply: `{"from": "gpt" | "assistant" | …, "value": string}`.
    private static func reply(_ object: [String: Any], _ key: String) throws -> String {
        guard let value = object[key] else { throw Problem(expected: "a \"\(key)\" reply") }
        guard let turn = value as? [String: Any], let from = turn["from"] as? String, let text = turn["value"] as? String else {
            throw Problem(expected: "\"\(key)\" to be {\"from\": \"gpt\", \"value\": a string}")
        }
        guard ConversationReader.shareGPTRoles[from] == .assistant else {
            throw Problem(expected: "\"\(key)\".from to be a reply role (gpt, assistant, model, bot), got \"\(from)\"")
        }
        return text
    }
}
