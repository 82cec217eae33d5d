import Foundation
import MixLNData
import MixLNDistributed
import MixLNModel
import MixLNTrain

/// `mixln train --resume <run>`: continues a run from its newest complete checkpoint, rebuilt from
/// the run's `run.json` alone (see `RunRecord`).
///
/// What may be given with `--resume`:
/// - options that decide the run's result (model, norm, data, tokenizer, batch sizes, sequence
///   length, schedule, optimizer, clipping, seed, packing, validation split, evaluation, precision) only
///   with the run's own values — a different one is refused with a line naming the option and
///   both values;
/// - `--steps N` with N at least the run's steps: a larger N extends the run, the schedule is
///   recomputed for N steps from where the run is (warmup keeps its length), so the extended run is
///   not bit-identical to one planned for N steps from the start;
/// - `--threads`: another count is allowed with a warning (reductions are summed in another order,
///   so the continuation is no longer bit-identical to an uninterrupted run) and recorded;
/// - `--save-every`, `--save-dtype`: change what is written from now on, and are recorded;
/// - `--stop-after`, `--json`, and `--out` naming the run itself.
extension TrainCommand {
    func resumeRun(_ runPath: String, group: ProcessGroup = .single()) throws -> (summary: TrainingSummary, record: RunRecord) {
        let recorded = try RunRecord.load(runDirectory: runPath)
        if let fineTuning = recorded.fineTuning {
            throw CLIError("\(runPath) is a fine-tuning run (mixln \(fineTuning.method) from \(fineTuning.base)); train --resume continues pre-training runs only")
        }
        if recorded.version < RunRecord.currentVersion {
            progressLine("\(runPath): run.json predates structured run records; rebuilt from its command line "
                         + "(relative paths read from the current directory) and rewritten")
        }
        let record = try resumedRecord(recorded, runPath: runPath)
        guard let checkpoint = TrainingCheckpoint.checkpoints(in: runPath).last else {
            throw CLIError("\(runPath) has no complete checkpoint to resume from")
        }
        return try execute(record, in: runPath, resumingFrom: checkpoint, group: group)
    }

    /// The record to continue with: `record` with the allowed changes given here applied, after
    /// checking that every other option given here matches it.
    func resumedRecord(_ record: RunRecord, runPath: String) throws -> RunRecord {
        func refuse(_ option: String, _ recorded: String, _ given: String) -> CLIError {
            CLIError("\(runPath) was trained with \(option) \(recorded), not \(given); --resume continues a run with its own options (start a new run with --out to change them)")
        }
        func check<Value: Equatable>(_ option: String, _ given: Value?, _ recorded: Value, _ show: (Value) -> String = { "\($0)" }) throws {
            if let given, given != recorded { throw refuse(option, show(recorded), show(given)) }
        }
        let training = record.training, schedule = training.schedule

        if let out, absolutePath(out) != absolutePath(runPath) { throw refuse("--out", runPath, out) }
        if let data, absolutePath(data) != record.data { throw refuse("--data", record.data, data) }
        let tokenizer = try TokenizerLoader.load(path: record.tokenizer)
        if let given = self.tokenizer, tokenizerSpec(given) != record.tokenizer,
           (try? TokenizerLoader.load(path: tokenizerSpec(given)))?.fingerprint != tokenizer.fingerprint {
            throw refuse("--tokenizer", record.tokenizer, given)
        }
        try checkModel(record, tokenizer: tokenizer, refuse: refuse)
        try check("--batch-size", batchSize, training.microBatchSize)
        try check("--total-batch-size", totalBatchSize, training.totalBatchSize)
        try check("--seq-len", seqLen, training.seqLen)
        try check("--lr", lr, schedule.peak)
        try check("--warmup", warmup, schedule.warmupSteps)
        try check("--schedule", self.schedule, schedule.kind.rawValue)
        try check("--min-lr-ratio", minLrRatio, schedule.minRatio)
        try check("--optimizer", optimizer, training.optimizer.kind.rawValue)
        try check("--weight-decay", weightDecay, training.optimizer.weightDecay)
        try check("--clip", clip.map { Optional($0) }, training.clipGradNorm) { $0.map { "\($0)" } ?? "off" }
        try check("--seed", seed, training.seed)
        try check("--eval-every", evalEvery, training.evalEvery)
        try check("--eval-batches", evalBatches.map { Optional($0) }, training.evalBatches) { $0.map { "\($0)" } ?? "all" }
        try check("--val-fraction", valFraction, record.validationFraction)
        try check("--precision", try precisionOptions.requested(), training.precision) { $0.rawValue }
        if packing, !record.packing { throw refuse("--packing", "off", "on") }

        var resumed = record
        if let steps {
            guard steps >= training.steps else {
                throw CLIError("\(runPath) has \(training.steps) steps; --steps \(steps) cannot shorten it (--steps with --resume only extends a run; use --stop-after to stop early)")
            }
            resumed.training.steps = steps
            resumed.training.schedule.totalSteps = steps
        }
        if let threads {
            guard threads >= 1 else { throw CLIError("--threads must be positive, got \(threads)") }
            if threads != record.threads {
                progressLine("warning: --threads \(threads) differs from the \(record.threads) \(runPath) ran on; reductions are summed in another order, so the continued run is not bit-identical to an uninterrupted one")
                resumed.threads = threads
            }
        }
        if let saveEvery { resumed.training.saveEvery = saveEvery }
        if let saveDtype { resumed.saveDType = saveDtype }
        _ = try resumed.checkpointDType
        try resumed.training.validate()
        return resumed
    }

    /// Checks the model options given here (`--model`, `--layers`, `--vocab-size`, `--norm`,
    /// `--post-num`, `--qk-norm`, `--gpas`, `--norm-fn`, `--dyt-alpha`) resolve to the run's config and norm plan.
    private func checkModel(_ record: RunRecord, tokenizer: any Tokenizer,
                            refuse: (String, String, String) -> CLIError) throws {
        let given = modelOptions, recorded = record.modelOptions, config = record.config
        if let layers = given.layers, layers != config.numHiddenLayers {
            throw refuse("--layers", String(config.numHiddenLayers), String(layers))
        }
        if let vocabSize = given.vocabSize {
            let size = vocabSize == "tokenizer" ? tokenizer.vocabularySize : Int(vocabSize)
            if size != config.vocabSize { throw refuse("--vocab-size", String(config.vocabSize), vocabSize) }
        }
        if let model = given.model, modelSpec(model) != recorded.model {
            var options = given
            options.layers = given.layers ?? recorded.layers
            options.vocabSize = given.vocabSize ?? recorded.vocabSize
            if (try? Self.trainingConfig(options, tokenizer: tokenizer)) != config { throw refuse("--model", recorded.model, model) }
        }
        let givenQKNorm = try given.resolvedQKNorm()
        let recordedGPAS = record.normPlan.layers.first?.attention.gpas != nil
        if given.gpas, !recordedGPAS { throw refuse("--gpas", "off", "on") }
        let recordedFunction = record.normPlan.normFunction
        if let function = try given.resolvedNormFn(), function.name != recordedFunction.name {
            throw refuse("--norm-fn", recordedFunction.name, function.name)
        }
        if let alphas = try given.resolvedDytAlpha(), let text = given.dytAlpha {
            guard case .dyt(let recordedAlphas) = recordedFunction else { throw refuse("--dyt-alpha", "unset (--norm-fn rms)", text) }
            if alphas != recordedAlphas { throw refuse("--dyt-alpha", recordedAlphas.description, text) }
        }
        if given.norm != nil || given.postNum != nil || givenQKNorm != nil {
            let named = try NormScheme.plan(given.norm ?? recorded.norm ?? "pre", layers: config.numHiddenLayers,
                                            postNum: given.postNum ?? recorded.postNum)
                .withQKNorm(givenQKNorm ?? record.normPlan.layers.first?.qkNorm ?? .none)
            var plan = recordedGPAS ? named.withGPAS() : named
            // --norm-fn and --dyt-alpha are checked above; --norm says DyT only with a dyt- prefix, and a
            // dyt- scheme on an RMSNorm run is a different --norm.
            if !(recordedFunction == .rms && plan.normFunction != .rms) { plan = plan.withNormFunction(recordedFunction) }
            if !plan.buildsSameModel(as: record.normPlan) {
                if let norm = given.norm { throw refuse("--norm", recorded.norm ?? record.normPlan.scheme, norm) }
                if let qkNorm = givenQKNorm {
                    throw refuse("--qk-norm", (record.normPlan.layers.first?.qkNorm ?? .none).rawValue, qkNorm.rawValue)
                }
                throw refuse("--post-num", recorded.postNum.map(String.init) ?? "default", String(given.postNum ?? 0))
            }
        }
    }
}
