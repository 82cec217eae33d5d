import Foundation
import MixLNAnalysis
import MixLNData
import MixLNModel
import MixLNTrain

/// The paper's per-layer measurements on a run's final checkpoint (for a diverged run: the one saved
/// at divergence), written to `<run>/analysis/`: `grad_norms.json`, `angular.json`,
/// `layer_drop.json`, `depth.json`, `logit_lens.json`, and `source.json` saying which checkpoint and
/// data they are of. Each file is computed once for a checkpoint and data: a folder analyzed before
/// an analysis existed gets just the new file.
///
/// With `tasks`, the model at the end of the downstream pipeline (the last fine-tuning stage's, else
/// the run's own) is also scored on the task files as `eval-mc` scores them, into `eval_mc.json`,
/// and `layer_drop.json` is that model's, with each task's accuracy drop as `analyze layer-drop
/// --tasks` adds it (the full model's accuracies there are the ones in `eval_mc.json`).
///
/// The data is `evalData` cut like the run's training data (same tokenizer, `--seq-len`, packing),
/// or by default the run's own validation split, rebuilt from its `run.json` record with the same seed.
struct RunAnalysis {
    /// The analyses of the pre-trained checkpoint alone (file, name in progress lines, the analysis);
    /// `layer_drop.json` is the scored model's when there are tasks, so it is not among them.
    static let checkpointAnalyses: [(file: String, name: String, run: (Transformer<Float>, TokenBatches) throws -> any Encodable)] = [
        ("grad_norms.json", "grad-norms", { try GradientNormAnalysis.run($0, batches: $1) }),
        ("angular.json", "angular", { try AngularDistance.run($0, batches: $1) }),
        ("depth.json", "depth", { try DepthStatistics.run($0, batches: $1) }),
        ("logit_lens.json", "logit-lens", { try LogitLens.run($0, batches: $1) }),
    ]
    /// The task scores of the final model (`eval-mc --json`'s document).
    static let taskFile = "eval_mc.json"

    /// Multiple-choice tasks to score, and the model to score them on.
    struct Tasks {
        /// A run directory whose newest checkpoint is scored: the last fine-tuning stage's, or the run itself.
        var model: String
        var files: [String]
        /// Only the first N questions of each file.
        var limit: Int?
    }

    /// What the analyses were computed from; when it matches, a second invocation does nothing.
    struct Source: Codable, Equatable {
        /// The run's checkpoint (`step-000100`) that `grad_norms`, `angular`, `depth` (and, without
        /// tasks, `layer_drop`) are of.
        var checkpoint: String
        var data: String
        var maxTokens: Int
        var batchSize: Int
        /// With tasks: what `eval_mc.json` and `layer_drop.json` are of.
        var downstream: Downstream?

        enum CodingKeys: String, CodingKey { case checkpoint, data, maxTokens = "max_tokens", batchSize = "batch_size", downstream }
    }

    /// The model and tasks of `eval_mc.json` and `layer_drop.json`.
    struct Downstream: Codable, Equatable {
        /// The checkpoint scored, relative to the run directory (`sft/checkpoints/step-000100`).
        var checkpoint: String
        /// When its weights file was written: a fine-tuning stage that ran again rewrites it.
        var written: String
        /// The task files, absolute.
        var tasks: [String]
        var limit: Int?
        var batchTokens: Int

        enum CodingKeys: String, CodingKey { case checkpoint, written, tasks, limit, batchTokens = "batch_tokens" }
    }

    let runPath: String
    let label: String
    let evalData: String?
    let maxTokens: Int
    let batchSize: Int
    var tasks: Tasks? = nil

    private var folder: URL { URL(fileURLWithPath: runPath).appendingPathComponent("analysis") }

    /// Runs the analyses that `analysis/source.json` does not show as done for the same checkpoint,
    /// data (and model and tasks). Returns false when nothing needed doing.
    @discardableResult
    func run() throws -> Bool {
        guard let checkpoint = TrainingCheckpoint.checkpoints(in: runPath).last else {
            throw CLIError("\(runPath): no checkpoint to analyze")
        }
        let folder = try RunDirectory(path: self.folder.path)
        let record = try RunRecord.load(runDirectory: runPath)
        let scored = try tasks.map { try CheckpointInput.modelFolder($0.model) }
        let source = Source(checkpoint: (checkpoint as NSString).lastPathComponent,
                            data: evalData ?? "validation split of \(record.data)", maxTokens: maxTokens, batchSize: batchSize,
                            downstream: tasks.map { tasks in
            Downstream(checkpoint: scored.map(relativeToRun) ?? "", written: scored.map(Self.written) ?? "",
                       tasks: tasks.files.map(absolutePath), limit: tasks.limit, batchTokens: TaskFiles.defaultBatchTokens)
        })
        let previous = FileManager.default.contents(atPath: folder.url.appendingPathComponent("source.json").path)
            .flatMap { try? JSONDecoder().decode(Source.self, from: $0) }
        func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: folder.url.appendingPathComponent(name).path) }
        var sameData = previous
        sameData?.downstream = source.downstream
        let pending = Self.checkpointAnalyses.filter { !(exists($0.file) && sameData == source) }
        let perplexityDone = pending.isEmpty
        let layerDropDone = exists("layer_drop.json") && (tasks == nil || exists(Self.taskFile)) && previous == source
        if perplexityDone, layerDropDone {
            progressLine("\(label): analyses of \(source.checkpoint) already done")
            return false
        }
        var models: [String: Transformer<Float>] = [:]
        func model(_ folder: String) throws -> Transformer<Float> {
            if let loaded = models[folder] { return loaded }
            let loaded: Transformer<Float> = try ModelDirectory.load(folder)
            models[folder] = loaded
            return loaded
        }
        // The scored model shares the run's config, so its batches serve every analysis.
        let batches = try analysisBatches(for: try model(perplexityDone ? scored ?? checkpoint : checkpoint), record: record)
        let tokens = batches.reduce(0) { $0 + $1.predictedTokenCount }
        progressLine("\(label): analyzing \(source.checkpoint) on \(tokens) tokens of \(source.data)")
        if !perplexityDone {
            let pretrained = try model(checkpoint)
            for analysis in pending {
                try step(analysis.name) { try folder.writeJSON(try analysis.run(pretrained, batches), to: analysis.file) }
            }
        }
        if !layerDropDone {
            if let tasks, let scored, let downstream = source.downstream {
                try layerDrop(of: try model(scored), at: scored, tasks: tasks, downstream: downstream, batches: batches, into: folder)
            } else {
                try step("layer-drop") { try folder.writeJSON(LayerRemoval.run(try model(checkpoint), batches: batches), to: "layer_drop.json") }
                if exists(Self.taskFile) { try FileManager.default.removeItem(at: folder.url.appendingPathComponent(Self.taskFile)) }
            }
        }
        try folder.writeJSON(source, to: "source.json")
        return true
    }

    /// The accuracies in `eval_mc.json`.
    func taskAccuracies() throws -> [TaskAccuracy] {
        let path = folder.appendingPathComponent(Self.taskFile).path
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(path): not written") }
        return try JSONCoding.decoder.decode(MultipleChoiceReport.self, from: data).tasks
    }

    /// `layer_drop.json` of the scored model with each task's accuracy drop, and `eval_mc.json` from the
    /// same pass: the full model's accuracies are exactly what `eval-mc` computes.
    private func layerDrop(of model: Transformer<Float>, at checkpoint: String, tasks: Tasks, downstream: Downstream,
                           batches: TokenBatches, into folder: RunDirectory) throws {
        let tokenizer = try checkpointTokenizer(checkpoint: checkpoint, given: nil, model: model)
        let encoded = try TaskFiles.load(tasks.files, limit: tasks.limit, tokenizer: tokenizer, window: model.config.maxSequenceLength)
        progressLine("\(label): scoring \(downstream.checkpoint) on \(encoded.map(\.name).joined(separator: ", "))")
        try step("layer-drop with tasks") {
            let accuracy = try LayerDropAccuracy.run(model, tasks: encoded, batchTokens: downstream.batchTokens,
                                                     progress: StatusLine.bar("\(label) accuracy", unit: "choices"))
            try folder.writeJSON(MultipleChoiceReport(tasks: accuracy.baseline, items: []), to: Self.taskFile)
            try folder.writeJSON(try LayerRemoval.run(model, batches: batches).adding(accuracy: accuracy), to: "layer_drop.json")
        }
    }

    /// The modification time of a checkpoint's weights file (ISO 8601, to the millisecond), or "" if unknown.
    private static func written(_ checkpoint: String) -> String {
        let weights = (checkpoint as NSString).appendingPathComponent(ModelDirectory.weightsFile)
        guard let date = (try? FileManager.default.attributesOfItem(atPath: weights))?[.modificationDate] as? Date else { return "" }
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return format.string(from: date)
    }

    /// `path` relative to the run directory when it lies inside it.
    private func relativeToRun(_ path: String) -> String {
        let prefix = runPath.hasSuffix("/") ? runPath : runPath + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : absolutePath(path)
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
