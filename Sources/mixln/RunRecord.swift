import Foundation
import MixLNData
import MixLNModel
import MixLNTensor
import MixLNTrain

/// What `run.json` records: everything that decides a run, resolved, so that `--resume` (and the
/// analyses of a run) rebuild it from this record alone — never by re-reading its command line,
/// which breaks when the run is continued from another working directory or by another version of
/// the CLI. Paths are absolute; the model is the resolved `config` and `norm_plan`.
///
/// A run is rebuilt from these fields only (`TrainCommand.execute`), for a fresh run and a resumed
/// one alike, which is what makes a resumed run bit-identical to one that never stopped.
struct RunRecord: Codable {
    /// Version of this layout. Version 1 (no `record_version` key) recorded only the command line
    /// faithfully; such runs are rebuilt from it (see `load`).
    static let currentVersion = 2

    /// The model options as given (the config file as an absolute path), for messages and for
    /// comparing a `--resume` command's options with the run's.
    struct ModelChoice: Codable, Equatable {
        var model: String
        var norm: String?
        var postNum: Int?
        var layers: Int?
        var vocabSize: String?
        var qkNorm: QKNorm? = nil
        var gpas: Bool? = nil
        /// `--norm-fn` (`rms` or `dyt`) when given.
        var normFn: String? = nil
        /// `--dyt-alpha` when given, parsed.
        var dytAlpha: DynamicTanhInit? = nil

        enum CodingKeys: String, CodingKey {
            case model, norm, postNum = "post_num", layers, vocabSize = "vocab_size", qkNorm = "qk_norm", gpas
            case normFn = "norm_fn", dytAlpha = "dyt_alpha"
        }
    }

    /// One continuation of the run: from which step, to how many steps, on how many threads and ranks.
    struct Resume: Codable, Equatable {
        var atStep: Int
        var steps: Int
        var threads: Int
        var ranks: Int? = nil

        enum CodingKeys: String, CodingKey { case atStep = "at_step", steps, threads, ranks }
    }

    var version: Int
    /// The command line that started the run (for people, and for `compare`'s "trained with other
    /// options" note); never parsed to rebuild the run.
    var command: [String]
    var modelOptions: ModelChoice
    /// The resolved model config, overrides and the frozen pad row included.
    var config: ModelConfig
    var normPlan: NormPlan
    /// Steps, batch sizes, sequence length, schedule, optimizer, clipping, evaluation, saving, seed.
    var training: TrainingOptions
    /// `--data`, absolute.
    var data: String
    /// `byte`, or the tokenizer file (or folder) as an absolute path.
    var tokenizer: String
    /// The tokenizer's short name (`byte`, `BPE`, …).
    var tokenizerName: String
    var packing: Bool
    var validationFraction: Double
    /// Thread count of the run; results are bit-identical only for the same count.
    var threads: Int
    /// Processes of a data-parallel run (`mpirun -np N`); nil: one. Like `threads`, another count
    /// sums in another order, so a run is bit-identical only for the same number.
    var ranks: Int? = nil
    /// Storage type of checkpoints: `f32` or `bf16`.
    var saveDType: String
    var parameters: Int
    /// Every `--resume` of the run, oldest first.
    var resumes: [Resume]
    /// Set for a fine-tuning run (`mixln sft`): what it started from; nil for pre-training.
    var fineTuning: FineTuning? = nil

    enum CodingKeys: String, CodingKey {
        case version = "record_version", command, modelOptions = "model_options", config, normPlan = "norm_plan", training
        case data, tokenizer, tokenizerName = "tokenizer_name", packing, validationFraction = "validation_fraction"
        case threads, ranks, saveDType = "save_dtype", parameters, resumes
        case fineTuning = "fine_tuning"
    }

    /// The `--save-dtype` values and the safetensors dtype each stores.
    static let saveDTypes: [String: SafeTensorsDType] = ["f32": .float32, "bf16": .bfloat16]

    /// The safetensors dtype of `saveDType`.
    var checkpointDType: SafeTensorsDType {
        get throws {
            guard let dtype = Self.saveDTypes[saveDType] else {
                throw CLIError("--save-dtype must be f32 or bf16, got '\(saveDType)'")
            }
            return dtype
        }
    }

    /// How the run cuts its data into sequences; pre-tokenized ids are bounded by the model's vocabulary.
    var sequenceOptions: SequenceOptions {
        SequenceOptions(seqLen: training.seqLen, packing: packing, vocabularySize: config.vocabSize)
    }

    /// Reads `<runDirectory>/run.json`. A record written before structured records (version 1) is
    /// rebuilt by parsing its command line as that version did — relative paths in it are read from
    /// the current directory — and comes back with `version` 1.
    static func load(runDirectory: String) throws -> RunRecord {
        let file = (runDirectory as NSString).appendingPathComponent("run.json")
        guard let data = FileManager.default.contents(atPath: file),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIError("\(runDirectory) is not a run directory (no readable run.json)")
        }
        guard let version = object[CodingKeys.version.rawValue] as? Int else {
            return try legacy(object, file: file)
        }
        guard version <= currentVersion else {
            throw CLIError("\(file) has record_version \(version); this mixln reads versions up to \(currentVersion) (use a newer mixln)")
        }
        do {
            return try JSONCoding.decoder.decode(RunRecord.self, from: data)
        } catch DecodingError.keyNotFound(let key, let context) {
            throw CLIError("\(file): missing key '\((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))'")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw CLIError("\(file): '\(context.codingPath.map(\.stringValue).joined(separator: "."))' has the wrong type")
        } catch {
            throw CLIError("\(file): cannot be read (\(error))")
        }
    }

    /// A version-1 record: its `command` parsed as a new `train` command, on the thread count it recorded.
    private static func legacy(_ object: [String: Any], file: String) throws -> RunRecord {
        guard let command = object["command"] as? [String], command.count >= 2 else {
            throw CLIError("\(file) records neither record_version nor a train command line; it cannot be resumed")
        }
        var original: TrainCommand
        do {
            original = try TrainCommand.parse(Array(command.dropFirst(2)))
        } catch {
            throw CLIError("\(file): its recorded command line no longer parses (\(TrainCommand.message(for: error)))")
        }
        if original.threads == nil, let threads = object["threads"] as? Int { original.threads = threads }
        var record = try original.newRecord(command: command)
        record.version = 1
        if let parameters = object["parameters"] as? Int { record.parameters = parameters }
        return record
    }
}

/// `path` made absolute against the current directory, with `.`/`..` resolved.
func absolutePath(_ path: String) -> String {
    let absolute = path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath as NSString).appendingPathComponent(path)
    return (absolute as NSString).standardizingPath
}

/// A `--model` argument as a run records it: a config file (or folder) as an absolute path, a preset as named.
func modelSpec(_ argument: String) -> String {
    FileManager.default.fileExists(atPath: argument) ? absolutePath(argument) : argument
}

/// A `--tokenizer` argument as a run records it: `byte`, or the file as an absolute path.
func tokenizerSpec(_ argument: String) -> String {
    argument == "byte" ? argument : absolutePath(argument)
}
