import Foundation
import MixLNTrain

/// Everything the HTML report shows about one run directory, read from its files: `run.json`,
/// `summary.json`, `metrics.jsonl` and `analysis/*.json`. Files that are absent stay nil; files that
/// cannot be read are listed in `problems` instead of stopping the report.
public struct ReportRun {
    public var path: String
    /// The directory's name (`mix-seed0`).
    public var name: String
    /// The norm plan's scheme from `run.json` (`mix:3`), or the name when unknown.
    public var scheme: String
    public var seed: UInt64?
    public var layers: Int?
    public var parameters: Int?
    public var summary: TrainingSummary?
    public var steps: [StepRecord] = []
    public var evals: [EvalRecord] = []
    /// Training tokens per update, from the last `started` record of `metrics.jsonl`.
    public var tokensPerStep: Int?
    public var gradNorms: GradientNormReport?
    public var angular: AngularDistanceReport?
    public var layerDrop: LayerDropReport?
    public var depth: DepthStatisticsReport?
    public var logitLens: LogitLensReport?
    /// Multiple-choice accuracies of the run's final model (`analysis/eval_mc.json`, written by
    /// `compare --tasks`; after fine-tuning when there was some).
    public var taskScores: [TaskAccuracy]?
    /// The checkpoint that `eval_mc.json` and `layer_drop.json` are of, relative to the run
    /// (`sft/checkpoints/step-000100`; from `analysis/source.json`), when it is not the run's own.
    public var scoredCheckpoint: String?
    public var problems: [String] = []

    static let decoder: JSONDecoder = {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }()

    /// Reads a run directory; throws only when `path` is not one (no `run.json` and no `metrics.jsonl`).
    public static func load(_ path: String) throws -> ReportRun {
        let fm = FileManager.default
        func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
        guard fm.fileExists(atPath: file("run.json")) || fm.fileExists(atPath: file("metrics.jsonl")) else {
            throw AnalysisError.invalid("\(path): not a run directory (no run.json or metrics.jsonl)")
        }
        let name = ((path as NSString).standardizingPath as NSString).lastPathComponent
        var run = ReportRun(path: path, name: name, scheme: name)
        if let data = fm.contents(atPath: file("run.json")),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            run.scheme = (object["norm_plan"] as? [String: Any])?["scheme"] as? String ?? name
            run.seed = ((object["training"] as? [String: Any])?["seed"] as? NSNumber)?.uint64Value
            run.layers = (object["config"] as? [String: Any])?["num_hidden_layers"] as? Int
            run.parameters = object["parameters"] as? Int
        } else if fm.fileExists(atPath: file("run.json")) {
            run.problems.append("run.json is not readable JSON")
        }
        run.summary = run.decode(TrainingSummary.self, file("summary.json"))
        if let text = try? String(contentsOfFile: file("metrics.jsonl"), encoding: .utf8) {
            for line in text.split(separator: "\n") {
                let data = Data(line.utf8)
                guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                    run.problems.append("metrics.jsonl has a line that is not JSON")
                    continue
                }
                switch object["event"] as? String {
                case "step": if let s = try? decoder.decode(StepRecord.self, from: data) { run.steps.append(s) }
                case "eval": if let e = try? decoder.decode(EvalRecord.self, from: data) { run.evals.append(e) }
                case "started": if let info = try? decoder.decode(RunInfo.self, from: data) { run.tokensPerStep = info.tokensPerStep }
                default: break
                }
            }
        }
        run.gradNorms = run.decode(GradientNormReport.self, file("analysis/grad_norms.json"))
        run.angular = run.decode(AngularDistanceReport.self, file("analysis/angular.json"))
        run.layerDrop = run.decode(LayerDropReport.self, file("analysis/layer_drop.json"))
        run.depth = run.decode(DepthStatisticsReport.self, file("analysis/depth.json"))
        run.logitLens = run.decode(LogitLensReport.self, file("analysis/logit_lens.json"))
        run.taskScores = run.decode(MultipleChoiceReport.self, file("analysis/eval_mc.json"))?.tasks
        if let data = fm.contents(atPath: file("analysis/source.json")),
           let source = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let scored = (source["downstream"] as? [String: Any])?["checkpoint"] as? String, !scored.hasPrefix("checkpoints/") {
            run.scoredCheckpoint = scored
        }
        run.layers = run.layers ?? run.depth?.layers.count ?? run.steps.first?.gradNorms.layers.count
        return run
    }

    /// The folder holding the run directory (a `compare` folder: one depth of a study).
    public var folder: String {
        ((path as NSString).standardizingPath as NSString).deletingLastPathComponent
    }

    /// Validation perplexity against training tokens seen, one point per evaluated update in step
    /// order (a step evaluated twice, as after a resume, counts once: its last record). Tokens come
    /// from the step record of that update, else step × tokens per update; evaluations of updates
    /// whose token count is unknown are left out.
    public var validationCurve: [(tokens: Int, perplexity: Double)] {
        var last: [Int: EvalRecord] = [:]
        for e in evals { last[e.step] = e }
        return last.keys.sorted().compactMap { step in
            tokensSeen(atStep: step).map { (tokens: $0, perplexity: last[step]!.perplexity) }
        }
    }

    /// Training tokens seen when update `step` ended (0 before the first).
    public func tokensSeen(atStep step: Int) -> Int? {
        if step == 0 { return 0 }
        return steps.last { $0.step == step }?.tokens ?? tokensPerStep.map { $0 * step }
    }

    /// The fine-tuning stage whose model `scoredCheckpoint` is (`sft`), when it is not the run's own.
    public var scoredStage: String? {
        scoredCheckpoint.map { ($0 as NSString).pathComponents.first ?? $0 }
    }

    /// The file decoded, nil when absent; a file that does not decode is noted in `problems`.
    private mutating func decode<Value: Decodable>(_ type: Value.Type, _ path: String) -> Value? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try Self.decoder.decode(type, from: data)
        } catch {
            problems.append("\((path as NSString).lastPathComponent) could not be read (\(error.localizedDescription))")
            return nil
        }
    }

    /// Run directories named by `paths`: a run directory stands for itself; a `compare` output folder
    /// (with `compare.json`, or any folder holding run directories) for the runs inside it, in order.
    public static func expand(_ paths: [String]) throws -> [String] {
        let fm = FileManager.default
        var runs: [String] = []
        for path in paths {
            func inside(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
            if fm.fileExists(atPath: inside("run.json")) || fm.fileExists(atPath: inside("metrics.jsonl")) {
                runs.append(path)
            } else if let data = fm.contents(atPath: inside("compare.json")),
                      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                      let listed = object["runs"] as? [[String: Any]] {
                runs += listed.compactMap { $0["name"] as? String }.map(inside)
            } else if let names = try? fm.contentsOfDirectory(atPath: path),
                      case let found = names.sorted().map(inside).filter({ fm.fileExists(atPath: ($0 as NSString).appendingPathComponent("run.json")) }),
                      !found.isEmpty {
                runs += found
            } else {
                throw AnalysisError.invalid("\(path): not a run directory nor a folder of runs (no run.json, compare.json or runs inside)")
            }
        }
        return runs
    }
}
