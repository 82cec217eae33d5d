import ArgumentParser
import Foundation
import MixLNData

/// `mixln tokenize`: text on stdin to ids on stdout, or ids back to text with `--decode`.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Encode stdin with a tokenizer (ids on stdout), or decode ids with --decode.",
        discussion: """
            The whole of stdin is encoded as one text, with the tokenizer's own special tokens as the \
            reference libraries add them by default (T5 appends </s>, LLaMA prepends <s>, byte appends its eos); \
            --no-special-tokens encodes exactly as Hugging Face's encode(text, add_special_tokens=False) or \
            sentencepiece's encode. Without --json the ids are printed on one line, separated by spaces; \
            --json prints {"ids": [...]}. --decode reads ids separated by whitespace or commas, a JSON array, \
            or {"ids": [...]}, and prints the text exactly (no newline added).
            """)

    @Option(help: "Tokenizer: 'byte', a SentencePiece .model, or a tokenizer.json (or a folder holding one).") var tokenizer: String
    @Flag(help: "Encode without the tokenizer's special tokens (no bos/eos added).") var noSpecialTokens = false
    @Flag(help: "Print {\"ids\": [...]} as one JSON document.") var json = false
    @Flag(help: "Read ids on stdin and print their text.") var decode = false

    func run() throws {
        let tokenizer = try TokenizerLoader.load(path: self.tokenizer)
        let input = FileHandle.standardInput.readDataToEndOfFile()
        if decode {
            let ids = try Self.parseIds(input)
            let limit = Int32(clamping: tokenizer.vocabularySize)
            if let bad = ids.firstIndex(where: { $0 < 0 || $0 >= limit }) {
                throw CLIError("id \(ids[bad]) (position \(bad)) is outside the tokenizer's vocabulary 0..<\(tokenizer.vocabularySize)")
            }
            FileHandle.standardOutput.write(Data(tokenizer.decode(ids).utf8))
            return
        }
        let ids = tokenizer.encode(String(decoding: input, as: UTF8.self), addSpecialTokens: !noSpecialTokens)
        if json {
            try JSONCoding.printDocument(["ids": ids])
        } else {
            print(ids.map(String.init).joined(separator: " "))
        }
    }

    /// Ids from whitespace/comma separated integers, a JSON array, or `{"ids": [...]}`.
    static func parseIds(_ data: Data) throws -> [Int32] {
        let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var body = Substring(text)
        if body.hasPrefix("{") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any],
                  let ids = object["ids"] as? [Any] else {
                throw CLIError("--decode: expected {\"ids\": [...]} on stdin")
            }
            body = Substring(ids.map { "\($0)" }.joined(separator: " "))
        } else if body.hasPrefix("[") {
            guard body.hasSuffix("]") else { throw CLIError("--decode: the JSON array on stdin has no closing ']'") }
            body = body.dropFirst().dropLast()
        }
        return try body.split(whereSeparator: { $0.isWhitespace || $0 == "," }).enumerated().map { index, token in
            guard let id = Int32(token) else {
                throw CLIError("--decode: '\(token)' (item \(index + 1)) is not an integer id")
            }
            return id
        }
    }
}
