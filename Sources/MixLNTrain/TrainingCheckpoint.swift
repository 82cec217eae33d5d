import Foundation
import MixLNModel
import MixLNTensor

/// A resumable checkpoint folder: the model folder (`config.json`, `model.safetensors`) plus
/// `optimizer.safetensors` (Adam's `exp_avg.<name>` and `exp_avg_sq.<name>` per tensor, in the
/// weights' storage type) and `training_state.json`, plus the run's tokenizer file when it has one.
///
/// Written into a temporary folder that is renamed into place only when complete, so a run killed
/// mid-write leaves the previous checkpoint as it was.
public enum TrainingCheckpoint {
    public static let optimizerFile = "optimizer.safetensors"
    public static let stateFile = "training_state.json"

    /// Writes the trainer's state to `directory` (replacing an older checkpoint of the same name).
    ///
    /// `dtype` is the storage type of the weights and of Adam's moments alike: `.bfloat16` halves
    /// both files (rounded to nearest even). Training itself stays in fp32, and `restore` widens
    /// what it reads, so a run resumed from a bf16 checkpoint continues from rounded weights and
    /// moments and is not bit-identical to one that never stopped.
    public static func save(_ trainer: Trainer, to directory: String, dtype: SafeTensorsDType = .float32) throws {
        let fm = FileManager.default
        let url = URL(fileURLWithPath: directory)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        try? fm.removeItem(at: temporary)
        do {
            try fm.createDirectory(at: temporary, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.invalidOption("cannot create checkpoint folder \(temporary.path): \(error.localizedDescription)")
        }
        let model = trainer.model
        try ModelDirectory.save(model, to: temporary.path, dtype: dtype)
        var moments = SafeTensorsWriter(metadata: ["optimizer": trainer.optimizer.settings.kind.rawValue,
                                                   "step": String(trainer.optimizer.stepCount)])
        for tensor in model.layout.tensors {
            moments.add("exp_avg.\(tensor.name)", shape: tensor.shape, values: trainer.optimizer.firstMoment.pointer + tensor.offset, dtype: dtype)
            moments.add("exp_avg_sq.\(tensor.name)", shape: tensor.shape, values: trainer.optimizer.secondMoment.pointer + tensor.offset, dtype: dtype)
        }
        try moments.write(to: temporary.appendingPathComponent(optimizerFile).path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(encoder.encode(trainer.state), to: temporary.appendingPathComponent(stateFile).path)
        for (file, name) in trainer.checkpointAttachments {
            let target = temporary.appendingPathComponent(name)
            do { try fm.copyItem(atPath: file, toPath: target.path) } catch {
                throw TrainingError.invalidOption("cannot copy \(file) into the checkpoint: \(error.localizedDescription)")
            }
        }
        // Swap into place: the old folder is moved aside first and removed only after the rename.
        let old = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).old-\(getpid())")
        if fm.fileExists(atPath: url.path) { try fm.moveItem(at: url, to: old) }
        guard rename(temporary.path, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if fm.fileExists(atPath: old.path) { try? fm.moveItem(at: old, to: url) }
            throw TrainingError.invalidOption("cannot move checkpoint into \(url.path): \(reason)")
        }
        try? fm.removeItem(at: old)
    }

    /// Restores weights, optimizer moments and training state from `directory` into `trainer`.
    /// The checkpoint must come from the same model (config and norm plan) and the same data.
    public static func restore(_ trainer: Trainer, from directory: String) throws {
        let model = trainer.model
        let savedConfig = try ModelConfig.load(contentsOf: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(ModelDirectory.configFile)))
        guard savedConfig == model.config else {
            throw TrainingError.invalidOption("\(directory) was written by a different model (its config.json differs from this run's model)")
        }
        let saved: Transformer<Float> = try ModelDirectory.load(directory)
        guard saved.plan.buildsSameModel(as: model.plan) else {
            throw TrainingError.invalidOption("\(directory) was trained with the norm plan '\(saved.plan.scheme)', this run uses '\(model.plan.scheme)'")
        }
        let statePath = (directory as NSString).appendingPathComponent(stateFile)
        guard let stateData = FileManager.default.contents(atPath: statePath) else {
            throw TrainingError.invalidOption("\(directory): no \(stateFile); not a training checkpoint")
        }
        let state: TrainingState
        do { state = try JSONDecoder().decode(TrainingState.self, from: stateData) } catch {
            throw TrainingError.invalidOption("\(statePath): cannot be read (\(error))")
        }
        let moments = try SafeTensorsFile(path: (directory as NSString).appendingPathComponent(optimizerFile))
        for tensor in model.layout.tensors {
            for (prefix, buffer) in [("exp_avg.", trainer.optimizer.firstMoment), ("exp_avg_sq.", trainer.optimizer.secondMoment)] {
                guard moments.info(prefix + tensor.name)?.shape == tensor.shape else {
                    throw TrainingError.invalidOption("\(moments.path): missing or misshapen '\(prefix + tensor.name)'")
                }
                try moments.read(prefix + tensor.name, into: buffer.pointer + tensor.offset)
            }
        }
        model.parameters.pointer.update(from: saved.parameters.pointer, count: model.parameterCount)
        model.parametersDidChange()
        try trainer.restore(state)
    }

    /// The checkpoint folders under `runDirectory/checkpoints`, oldest first (`step-000010`, …).
    public static func checkpoints(in runDirectory: String) -> [String] {
        let folder = (runDirectory as NSString).appendingPathComponent("checkpoints")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.filter { $0.hasPrefix("step-") }.sorted()
            .map { (folder as NSString).appendingPathComponent($0) }
            .filter { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent(stateFile)) }
    }

    /// The folder name for the checkpoint after `step` updates.
    public static func name(step: Int) -> String { String(format: "step-%06d", step) }
}
