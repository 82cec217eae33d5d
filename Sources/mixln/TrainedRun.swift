import Foundation

/// The run a checkpoint belongs to, as `eval` and `analyze` need it: its directory and its record
/// (the data it was trained on, as an absolute path, and how `train` split and cut it).
struct TrainedRun {
    /// The run directory.
    var directory: String
    var record: RunRecord

    /// `--data` of the run, absolute.
    var data: String { record.data }
    var packing: Bool { record.packing }
    var validationFraction: Double { record.validationFraction }
    /// The seed of init, data split and order.
    var seed: UInt64 { record.training.seed }
    var seqLen: Int { record.training.seqLen }

    /// The run `checkpoint` names or lies in: `checkpoint` itself when it holds a `run.json`, or
    /// `<run>` for a checkpoint folder `<run>/checkpoints/step-N`; nil for a model folder of no run.
    /// - Throws: when the `run.json` found cannot be read.
    static func containing(checkpoint: String) throws -> TrainedRun? {
        let folder = URL(fileURLWithPath: checkpoint).standardizedFileURL
        let parent = folder.deletingLastPathComponent()
        let candidates = [folder] + (parent.lastPathComponent == "checkpoints" ? [parent.deletingLastPathComponent()] : [])
        guard let run = candidates.first(where: { FileManager.default.fileExists(atPath: $0.appendingPathComponent("run.json").path) }) else {
            return nil
        }
        return TrainedRun(directory: run.path, record: try RunRecord.load(runDirectory: run.path))
    }

    /// Whether `path` is the data this run was trained on, compared as absolute paths with symlinks resolved.
    func trainedOn(_ path: String) -> Bool {
        func resolved(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
        return resolved(path) == resolved(data)
    }
}
