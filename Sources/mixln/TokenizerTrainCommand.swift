import ArgumentParser
import Dispatch
import Foundation
import MixLNData

/// `mixln tokenizer …`: tokenizer tools.
struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Tokenizer tools.",
        subcommands: [TokenizerTrainCommand.self])
}

/// `mixln tokenizer train`: learns a GPT-2 style byte-level BPE and writes a Hugging Face `tokenizer.json`.
struct TokenizerTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a byte-level BPE tokenizer (GPT-2 style) and write it as tokenizer.json.",
        discussion: """
            Ids 0-255 are the bytes, then one id per merge, then <|endoftext|> (end of sequence and padding). \
            The file loads in the Hugging Face tokenizers library (Tokenizer.from_file) and encodes identically.
            """)

    @Option(help: "Text file, folder, JSONL, .json.gz, or a folder of .json.gz/.jsonl shards.") var data: String
    @Option(help: "Total ids, <|endoftext|> included (at least 257).") var vocabSize: Int
    @Option(help: "tokenizer.json to write.") var out: String
    @Option(help: "Pairs seen fewer times are not merged.") var minFrequency: Int = 2
    @Option(help: "Read at most this many documents.") var maxDocuments: Int?
    @Option(help: "A malformed JSON line: fail or skip.") var onBadLine: BadLinePolicy = .fail
    @Flag(help: "Print a JSON summary on stdout.") var json = false

    func run() throws {
        let start = DispatchTime.now().uptimeNanoseconds
        var trainer = try BPETrainer(vocabularySize: vocabSize, minFrequency: minFrequency)
        let stream = try DocumentStream(path: data, badLines: onBadLine)
        var documents = 0, bytes = 0
        while documents < (maxDocuments ?? .max), let document = try stream.next() {
            guard case .text(let text) = document else {
                throw CLIError("\(data): a record holds input_ids; a tokenizer is trained on text")
            }
            trainer.add(text)
            documents += 1
            bytes += text.utf8.count
        }
        guard documents > 0 else { throw CLIError("\(data) contains no documents") }
        let model = trainer.train()
        let url = URL(fileURLWithPath: out)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            try Data(model.tokenizerJSON().utf8).write(to: temporary)
            guard rename(temporary.path, url.path) == 0 else { throw CLIError(String(cString: strerror(errno))) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw CLIError("cannot write \(out): \(error)")
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let summary = TokenizerTrainSummary(
            vocabSize: model.vocabularySize, merges: model.merges.count, documents: documents, textBytes: bytes,
            words: trainer.wordCounts.count, seconds: seconds, out: out)
        if json {
            try JSONCoding.printDocument(summary)
        } else {
            print("\(out): \(model.vocabularySize) ids (\(model.merges.count) merges) from \(documents) documents, "
                  + "\(fixed(Double(bytes) / 1e6, 1)) MB, in \(fixed(seconds, 1)) s")
        }
        if model.vocabularySize < vocabSize {
            FileHandle.standardError.write(Data("note: stopped at \(model.vocabularySize) ids: no pair left with at least \(minFrequency) occurrences\n".utf8))
        }
    }
}

struct TokenizerTrainSummary: Encodable {
    let vocabSize: Int
    let merges: Int
    let documents: Int
    let textBytes: Int
    let words: Int
    let seconds: Double
    let out: String

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", merges, documents, textBytes = "text_bytes", words, seconds, out
    }
}
