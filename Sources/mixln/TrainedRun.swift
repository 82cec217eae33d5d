import Foundation

/// What `eval` and `analyze` need to know of the run a checkpoint belongs to, read from its
/// `run.json`: the data it was trained on and how `train` split and cut it. Only these fields are
/// decoded, so the record may grow without this reader changing.
struct TrainedRun: Decodable {
    /// The run directory (not in `run.json`; set when read).
    var directory = ""
    /// `--data` as `train` was given it.
    var data: String
    var packing: Bool
    var validationFraction: Double
    /// The seed of init, data split and order (`training.seed`).
    var seed: UInt64
    var seqLen: Int

    enum CodingKeys: String, CodingKey { case data, packing, validationFraction = "validation_fraction", training }
    enum TrainingKeys: String, CodingKey { case seed, seqLen = "seq_len" }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        data = try c.decode(String.self, forKey: .data)
        packing = try c.decode(Bool.self, forKey: .packing)
        validationFraction = try c.decode(Double.self, forKey: .validationFraction)
        let training = try c.nestedContainer(keyedBy: TrainingKeys.self, forKey: .training)
        seed = try training.decode(UInt64.self, forKey: .seed)
        seqLen = try training.decode(Int.self, forKey: .seqLen)
    }

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
        let file = run.appendingPathComponent("run.json").path
        guard let bytes = FileManager.default.contents(atPath: file) else { throw CLIError("\(file): cannot read") }
        do {
            var record = try JSONDecoder().decode(TrainedRun.self, from: bytes)
            record.directory = run.path
            return record
        } catch DecodingError.keyNotFound(let key, let context) {
            let path = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            throw CLIError("\(file): not a run record of mixln train (no '\(path)')")
        } catch {
            throw CLIError("\(file): not a run record of mixln train (invalid JSON, or a field of the wrong type)")
        }
    }

    /// Whether `path` is the data this run was trained on, compared as absolute paths with symlinks
    /// resolved (a relative `data` in `run.json` is read from the current directory, as `train` ran).
    func trainedOn(_ path: String) -> Bool {
        func resolved(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
        return resolved(path) == resolved(data)
    }
}
