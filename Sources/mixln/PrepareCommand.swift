import ArgumentParser
import Foundation
import MixLNData

/// `mixln prepare`: tokenizes a corpus on all cores into memory-mappable token shards.
struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Tokenize a corpus into token shards for `mixln train --data <dir>`.",
        discussion: """
            Streams the corpus (text files or folders, JSONL, C4-layout .json.gz files or folders of them) \
            and writes <out>/train-*.bin, <out>/validation-*.bin and <out>/manifest.json. The directory \
            appears only when complete, with a copy of the tokenizer file beside the manifest (tokenizer.json, \
            or the .model under its own name; none for byte), which train, eval and analyze then use by default. \
            Progress goes to stderr; one summary line (or --json) to stdout.
            """)

    @Option(help: "Text file, folder, JSONL, .json.gz, or a folder of .json.gz/.jsonl shards.") var data: String
    @Option(help: "Tokenizer: 'byte', a SentencePiece .model, or a tokenizer.json (or a folder holding one); stored with the shards.") var tokenizer: String
    @Option(help: "Shard directory to create.") var out: String
    @Option(help: "Expected fraction of documents held out for validation.") var valFraction: Double = 0.005
    @Option(help: "Seed for the validation split and the shuffle.") var seed: UInt64 = 0
    @Option(help: "Ids per shard file before a new one starts.") var shardTokens: Int = 100_000_000
    @Option(help: "Documents in the streaming shuffle buffer (0: keep the input order).") var shuffleBuffer: Int = 0
    @Option(help: "A malformed JSON line: fail (stop, naming the line) or skip (count it in the manifest).")
    var onBadLine: BadLinePolicy = .fail
    @Option(help: "Encoding threads (default: all cores).") var threads: Int?
    @Flag(help: "Replace an existing non-empty --out directory.") var overwrite = false
    @Flag(help: "Print the manifest as one JSON document on stdout.") var json = false

    func run() throws {
        let tokenizer = try TokenizerLoader.load(path: self.tokenizer)
        guard (0..<1).contains(valFraction) else { throw CLIError("--val-fraction must be in [0, 1), got \(valFraction)") }
        guard shardTokens > 0 else { throw CLIError("--shard-tokens must be positive, got \(shardTokens)") }
        guard shuffleBuffer >= 0 else { throw CLIError("--shuffle-buffer must not be negative, got \(shuffleBuffer)") }
        if let threads, threads <= 0 { throw CLIError("--threads must be positive, got \(threads)") }
        let stream = try DocumentStream(path: data, badLines: onBadLine)
        let options = PrepareOptions(
            outputDirectory: out, validationFraction: valFraction, seed: seed, shardTokens: shardTokens,
            threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, shuffleBuffer: shuffleBuffer,
            overwrite: overwrite, tokenizerFile: TokenizerFile(spec: self.tokenizer))
        let isTerminal = isatty(STDERR_FILENO) != 0
        var last: PrepareProgress?
        let manifest = try ShardPreparer.prepare(stream, tokenizer: tokenizer, options: options) { p in
            last = p
            let text = "prepare: \(formatCount(p.documents)) documents, \(formatCount(p.tokens)) tokens, "
                + "\(fixed(Double(p.textBytes) / 1e6, 1)) MB text at \(fixed(p.textMegabytesPerSecond, 1)) MB/s"
                + (p.skippedLines > 0 ? ", \(p.skippedLines) bad lines skipped" : "")
            if isTerminal {
                FileHandle.standardError.write(Data("\r\u{1B}[2K\(text)\(p.done ? "\n" : "")".utf8))
            } else if p.done {
                FileHandle.standardError.write(Data("\(text) in \(fixed(p.elapsedSeconds, 2)) s\n".utf8))
            }
        }
        if json {
            let report = PrepareReport(manifest: manifest, seconds: last?.elapsedSeconds ?? 0,
                                       textMegabytesPerSecond: last?.textMegabytesPerSecond ?? 0)
            try JSONCoding.printDocument(report)
        } else {
            let shards = manifest.splits.train.count + manifest.splits.validation.count
            let validation = manifest.splits.validation.reduce(0) { $0 + $1.documents }
            print("\(out): \(manifest.documents) documents (\(validation) validation), \(manifest.tokens) tokens "
                  + "in \(shards) \(manifest.dtype) shards; \(manifest.skippedLines) bad lines skipped")
        }
    }
}

extension BadLinePolicy: ExpressibleByArgument {}

/// `prepare --json`: the manifest's keys plus the time taken.
struct PrepareReport: Encodable {
    let manifest: ShardManifest
    let seconds: Double
    let textMegabytesPerSecond: Double

    enum CodingKeys: String, CodingKey { case seconds, textMegabytesPerSecond = "text_mb_per_second" }

    func encode(to encoder: Encoder) throws {
        try manifest.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(seconds, forKey: .seconds)
        try c.encode(textMegabytesPerSecond, forKey: .textMegabytesPerSecond)
    }
}
