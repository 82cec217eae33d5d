import ArgumentParser
import MixLNData

/// `compare`'s optional downstream stage (the paper's Table 2 flow): fine-tune every pre-trained run
/// in the same way, then score the final model on multiple-choice tasks as `eval-mc` does and measure
/// each layer's accuracy drop as `analyze layer-drop --tasks` does.
struct DownstreamOptions: ParsableArguments {
    @Option(help: "Fine-tune every run with `mixln sft` on these records (JSON array or JSONL, as sft reads them) into <run>/sft/.")
    var sftData: String?

    @Option(help: "With --sft-data: updates of each fine-tuning run.")
    var sftSteps: Int = TrainCommand.Defaults.steps

    @Option(help: "With --sft-data: peak learning rate of fine-tuning.")
    var sftLr: Double = FineTuneOptions.defaultLearningRate

    @Option(help: "With --sft-data: sequences per fine-tuning update.")
    var sftBatchSize: Int = TrainCommand.Defaults.batchSize

    @Option(help: "With --sft-data or --dpo-data: how records become text: \(ChatTemplate.allCases.map(\.rawValue).joined(separator: ", ")).")
    var sftTemplate: ChatTemplate = .alpaca

    @Option(help: "Then fine-tune every run with `mixln dpo` on these preference pairs (as dpo reads them) into <run>/dpo/, from the sft model when there is one.")
    var dpoData: String?

    @Option(help: "With --dpo-data: updates of each preference-tuning run.")
    var dpoSteps: Int = TrainCommand.Defaults.steps

    @Option(help: "With --dpo-data: peak learning rate of preference tuning.")
    var dpoLr: Double = FineTuneOptions.defaultLearningRate

    @Option(help: "With --dpo-data: pairs per preference-tuning update.")
    var dpoBatchSize: Int = TrainCommand.Defaults.batchSize

    @Option(help: "With --dpo-data: DPO's β.")
    var dpoBeta: Double = 0.1

    @Option(parsing: .upToNextOption,
            help: "Multiple-choice task files (as eval-mc reads them): score each run's final model (after fine-tuning) and the drop when each layer is removed.")
    var tasks: [String] = []

    @Option(help: "With --tasks: only the first N questions of each task file.")
    var taskLimit: Int?

    /// The fine-tuning stages in the order they run, each from the previous one's model, for the runs
    /// pre-trained with `seed` (which every stage's data order and validation split also use, so
    /// runs of one seed are fine-tuned identically whatever their scheme).
    func stages(seed: UInt64) -> [FineTuningStage] {
        var stages: [FineTuningStage] = []
        if let sftData {
            stages.append(FineTuningStage(method: "sft", command: SFTCommand.self, arguments: [
                "--data", sftData, "--template", sftTemplate.rawValue, "--steps", String(sftSteps), "--lr", String(sftLr),
                "--batch-size", String(sftBatchSize), "--seed", String(seed)]))
        }
        if let dpoData {
            stages.append(FineTuningStage(method: "dpo", command: DPOCommand.self, arguments: [
                "--data", dpoData, "--template", sftTemplate.rawValue, "--steps", String(dpoSteps), "--lr", String(dpoLr),
                "--batch-size", String(dpoBatchSize), "--beta", String(dpoBeta), "--seed", String(seed)]))
        }
        return stages
    }

    /// Whether anything happens after pre-training.
    var isEnabled: Bool { sftData != nil || dpoData != nil || !tasks.isEmpty }

    /// Reads the fine-tuning records and the task files and checks the options, so that a missing
    /// file or a bad line stops `compare` before it trains anything.
    func check() throws {
        if let taskLimit, taskLimit <= 0 { throw CLIError("--task-limit must be positive, got \(taskLimit)") }
        if taskLimit != nil, tasks.isEmpty { throw CLIError("--task-limit needs --tasks") }
        for stage in stages(seed: 0) { try stage.validate() }
        for path in tasks { _ = try MultipleChoiceTaskReader.read(path: path, limit: taskLimit) }
    }
}
