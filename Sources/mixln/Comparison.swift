import ArgumentParser
import Foundation
import MixLNData
import MixLNTrain

/// Trains every scheme × seed into `<out>/<scheme>-seed<k>/` with otherwise identical options (same
/// data, data order and init seed per seed), runs the downstream stages of each run that did not
/// diverge (fine-tuning into `<run>/sft/`, see `DownstreamOptions`), then analyzes each run's final
/// checkpoint (and, with tasks, scores its final model), and records the runs in `<out>/compare.json`
/// (with any runs an earlier invocation into the same folder listed).
///
/// Re-running is cheap: a run whose `summary.json` says completed or diverged is not trained again (a
/// diverged run is kept, marked, and analyzed at the checkpoint saved when it diverged); a stopped or
/// interrupted run continues from its last checkpoint; a finished fine-tuning stage is not run again
/// and an interrupted one starts over; analyses already done for the same checkpoint, data and tasks
/// are skipped.
struct Comparison {
    /// One run of the comparison, as `compare.json` lists it.
    struct Run: Codable {
        var name: String
        var scheme: String
        var seed: UInt64
        var path: String
        var status: String
        var steps: Int
        var divergedAt: Int?
        var validationPerplexity: Double?
        var elapsedSeconds: Double
        /// Fine-tuning stages and task accuracies, when the comparison has a downstream stage.
        var downstream: DownstreamResult?

        enum CodingKeys: String, CodingKey {
            case name, scheme, seed, path, status, steps, divergedAt = "diverged_at"
            case validationPerplexity = "validation_perplexity", elapsedSeconds = "elapsed_seconds", downstream
        }
    }

    struct Record: Codable {
        var schemes: [String]
        var seeds: [UInt64]
        var trainArguments: [String]
        var runs: [Run]

        enum CodingKeys: String, CodingKey { case schemes, seeds, trainArguments = "train_arguments", runs }
    }

    let schemes: [String]
    let options: ComparisonOptions

    /// The folder name of a run: the scheme with `:` spelt `-`, then the seed.
    static func runName(scheme: String, seed: UInt64) -> String {
        "\(scheme.replacingOccurrences(of: ":", with: "-"))-seed\(seed)"
    }

    /// The `train` arguments of one run.
    func trainArguments(scheme: String, seed: UInt64) -> [String] {
        options.trainArguments + ["--norm", scheme, "--seed", String(seed),
                                  "--out", (options.out as NSString).appendingPathComponent(Self.runName(scheme: scheme, seed: seed))]
    }

    /// Parses every run's `train` command and resolves its model and plan, so a bad scheme or option
    /// fails before anything is trained.
    func validate() throws {
        try options.check()
        guard !schemes.isEmpty else { throw CLIError("give at least one scheme") }
        guard Set(schemes).count == schemes.count else { throw CLIError("a scheme is listed twice: \(schemes.joined(separator: ","))") }
        for scheme in schemes {
            _ = try parseTrain(trainArguments(scheme: scheme, seed: options.seed)).newRecord(command: [])
        }
        // Read the data once up front so an empty or unreadable set fails before any training (a shard
        // folder: its manifest; train checks the shards themselves against the model and tokenizer).
        let first = try parseTrain(trainArguments(scheme: schemes[0], seed: options.seed))
        guard let data = first.data else { throw CLIError("--data is required (passed to every train run)") }
        for path in [data] + (options.evalData.map { [$0] } ?? []) {
            if ShardManifest.isShardDirectory(path) {
                guard try ShardManifest.read(directory: path).documents > 0 else { throw DataError.emptyCorpus(path) }
            } else {
                _ = try CorpusReader.readDocuments(at: path)
            }
        }
    }

    func run() throws -> Record {
        try validate()
        let output = try RunDirectory(path: options.out)
        // Runs an earlier invocation listed (other schemes or seeds) stay listed after this one's.
        let earlier = Self.record(in: options.out)?.runs ?? []
        var record = Record(schemes: schemes, seeds: options.seedList, trainArguments: options.trainArguments, runs: [])
        var current: [Run] = []
        let total = schemes.count * options.seeds
        for seed in options.seedList {
            for scheme in schemes {
                let name = Self.runName(scheme: scheme, seed: seed)
                progressLine("[\(current.count + 1)/\(total)] \(name)")
                var run = try trainOrReuse(scheme: scheme, seed: seed, name: name)
                if options.downstream.isEnabled { run.downstream = try fineTune(run) }
                current.append(run)
                record.runs = current + earlier.filter { old in !current.contains { $0.name == old.name } }
                try output.writeJSON(record, to: "compare.json")
            }
        }
        if !options.noAnalysis {
            for (i, run) in current.enumerated() {
                progressLine("[\(i + 1)/\(total)] analyses of \(run.name)")
                let tasks = run.downstream?.model.flatMap { model in
                    options.downstream.tasks.isEmpty ? nil : RunAnalysis.Tasks(model: model, files: options.downstream.tasks,
                                                                               limit: options.downstream.taskLimit)
                }
                let analysis = RunAnalysis(runPath: run.path, label: run.name, evalData: options.evalData,
                                           maxTokens: options.maxTokens, batchSize: options.analysisBatchSize, tasks: tasks)
                try analysis.run()
                if tasks != nil { record.runs[i].downstream?.tasks = try analysis.taskAccuracies() }
            }
            try output.writeJSON(record, to: "compare.json")
        }
        return record
    }

    /// Runs the downstream stages of a pre-trained run in order, each from the previous one's model;
    /// a diverged run, or a stage that diverges, ends its pipeline with no model to score.
    private func fineTune(_ run: Run) throws -> DownstreamResult {
        guard run.status != TrainingSummary.Status.diverged.rawValue else {
            progressLine("\(run.name): diverged in pre-training; no fine-tuning or task scores")
            return DownstreamResult()
        }
        var result = DownstreamResult(model: run.path)
        for stage in options.downstream.stages(seed: run.seed) {
            let label = "\(run.name)/\(stage.method)"
            let done = try stage.run(from: result.model ?? run.path, into: (run.path as NSString).appendingPathComponent(stage.method),
                                     label: label)
            result.stages.append(done)
            guard done.completed else {
                progressLine("\(label): \(done.status) at step \(done.steps); no later stage and no task scores")
                result.model = nil
                break
            }
            result.model = done.path
        }
        return result
    }

    /// Trains the run unless its `summary.json` says it finished (completed or diverged); continues
    /// a stopped or interrupted one from its last checkpoint.
    private func trainOrReuse(scheme: String, seed: UInt64, name: String) throws -> Run {
        let path = (options.out as NSString).appendingPathComponent(name)
        Self.warnIfTrainedOtherwise(path, label: name, expected: ["mixln", "train"] + trainArguments(scheme: scheme, seed: seed))
        let summary: TrainingSummary
        if let existing = Self.summary(of: path), existing.status != .stopped {
            progressLine("\(name): \(existing.status.rawValue) after \(existing.steps) steps (summary.json); not trained again")
            summary = existing
        } else {
            let resumable = !TrainingCheckpoint.checkpoints(in: path).isEmpty
                && FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("run.json"))
            let arguments = resumable ? ["--resume", path] : trainArguments(scheme: scheme, seed: seed)
            if resumable { progressLine("\(name): continuing from its last checkpoint") }
            summary = try parseTrain(arguments).train(command: ["mixln", "train"] + trainArguments(scheme: scheme, seed: seed)).summary
            if summary.status == .stopped {
                throw CLIError("interrupted during \(name) at step \(summary.steps); run the same command again to continue")
            }
        }
        if summary.status == .diverged {
            progressLine("\(name): diverged at step \(summary.divergedAt ?? summary.steps); kept and marked")
        }
        return Run(name: name, scheme: scheme, seed: seed, path: path, status: summary.status.rawValue, steps: summary.steps,
                   divergedAt: summary.divergedAt, validationPerplexity: summary.finalEval?.perplexity,
                   elapsedSeconds: summary.elapsedSeconds)
    }

    /// The `compare.json` of an output folder, if it has a readable one.
    static func record(in folder: String) -> Record? {
        guard let data = FileManager.default.contents(atPath: (folder as NSString).appendingPathComponent("compare.json")) else { return nil }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try? decoder.decode(Record.self, from: data)
    }

    /// Says on stderr when the run directory at `path` was made by another command line than
    /// `expected`: it is kept as it is.
    static func warnIfTrainedOtherwise(_ path: String, label: String, expected: [String]) {
        if let recorded = recordedCommand(of: path), recorded != expected {
            progressLine("\(label): warning: trained with other options (\(recorded.dropFirst(2).joined(separator: " "))); "
                         + "it is kept as it is — delete \(path) to train it with these")
        }
    }

    /// The command line a run directory's `run.json` records, if readable.
    static func recordedCommand(of path: String) -> [String]? {
        guard let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent("run.json")),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["command"] as? [String]
    }

    /// A run directory's `summary.json`, if it has a readable one.
    static func summary(of path: String) -> TrainingSummary? {
        guard let data = FileManager.default.contents(atPath: (path as NSString).appendingPathComponent("summary.json")) else { return nil }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try? decoder.decode(TrainingSummary.self, from: data)
    }

    private func parseTrain(_ arguments: [String]) throws -> TrainCommand {
        do {
            return try TrainCommand.parse(arguments)
        } catch {
            throw CLIError("train options: \(TrainCommand.message(for: error))")
        }
    }
}
