import Foundation
import MixLNAnalysis
import MixLNData
import MixLNModel
import MixLNTrain

/// The paper's per-layer measurements on a run's final checkpoint (for a diverged run: the one saved
/// at divergence), written to `<run>/analysis/`: `grad_norms.json`, `angular.json`,
/// `layer_drop.json`, `depth.json`, and `source.json` saying which checkpoint and data they are of.
///
/// The data is `evalData` cut like the run's training data (same tokenizer, `--seq-len`, packing),
/// or by default the run's own validation split, rebuilt from its `run.json` record with the same seed.
struct RunAnalysis {
    static let files = ["grad_norms.json", "angular.json", "layer_drop.json", "depth.json"]

    /// What the analyses were computed from; when it matches, a second invocation does nothing.
    struct Source: Codable, Equatable {
        var checkpoint: String
        var data: String
        var maxTokens: Int
        var batchSize: Int

        enum CodingKeys: String, CodingKey { case checkpoint, data, maxTokens = "max_tokens", batchSize = "batch_size" }
    }

    let runPath: String
    let label: String
    let evalData: String?
    let maxTokens: Int
    let batchSize: Int

    /// Runs the four analyses unless `analysis/source.json` shows they are already done for the same
    /// checkpoint and data. Returns false when nothing needed doing.
    @discardableResult
    func run() throws -> Bool {
        guard let checkpoint = TrainingCheckpoint.checkpoints(in: runPath).last else {
            throw CLIError("\(runPath): no checkpoint to analyze")
        }
        let folder = try RunDirectory(path: (runPath as NSString).appendingPathComponent("analysis"))
        let record = try RunRecord.load(runDirectory: runPath)
        let source = Source(checkpoint: (checkpoint as NSString).lastPathComponent,
                            data: evalData ?? "validation split of \(record.data)", maxTokens: maxTokens, batchSize: batchSize)
        let done = Self.files.allSatisfy { FileManager.default.fileExists(atPath: folder.url.appendingPathComponent($0).path) }
        if done, let data = FileManager.default.contents(atPath: folder.url.appendingPathComponent("source.json").path),
           (try? JSONDecoder().decode(Source.self, from: data)) == source {
            progressLine("\(label): analyses of \(source.checkpoint) already done")
            return false
        }
        let model = try ModelDirectory.load(checkpoint)
        let batches = try analysisBatches(for: model, record: record)
        let tokens = batches.reduce(0) { $0 + $1.predictedTokenCount }
        progressLine("\(label): analyzing \(source.checkpoint) on \(tokens) tokens of \(source.data)")
        try step("grad-norms") { try folder.writeJSON(GradientNormAnalysis.run(model, batches: batches), to: "grad_norms.json") }
        try step("angular") { try folder.writeJSON(AngularDistance.run(model, batches: batches), to: "angular.json") }
        try step("layer-drop") { try folder.writeJSON(LayerRemoval.run(model, batches: batches), to: "layer_drop.json") }
        try step("depth") { try folder.writeJSON(DepthStatistics.run(model, batches: batches), to: "depth.json") }
        try folder.writeJSON(source, to: "source.json")
        return true
    }

    private func analysisBatches(for model: Transformer<Float>, record: RunRecord) throws -> TokenBatches {
        let tokenizer = try TokenizerLoader.load(path: record.tokenizer)
        let sequences: any SequenceSource
        if let evalData {
            sequences = try SequenceBuilder.build(try CorpusReader.readDocuments(at: evalData), tokenizer: tokenizer, options: record.sequenceOptions)
        } else {
            let split = try record.loadSplit(using: tokenizer)
            guard !split.validation.isEmpty else {
                throw CLIError("\(runPath) has no validation split (--val-fraction 0); pass --eval-data")
            }
            sequences = split.validation
        }
        return try CheckpointInput.batches(sequences, for: model, batchSize: batchSize,
                                           maxTokens: maxTokens, source: evalData ?? record.data)
    }

    private func step(_ name: String, _ body: () throws -> Void) throws {
        let start = Date()
        try body()
        progressLine("\(label):   \(name) done in \(duration(Date().timeIntervalSince(start)))")
    }
}

/// One line of progress on stderr.
func progressLine(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
