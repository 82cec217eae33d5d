import ArgumentParser

/// What `compare` and `sweep` share: seeds, output folder, analysis data, the optional downstream
/// stage, and the `train` options passed through unchanged to every run.
struct ComparisonOptions: ParsableArguments {
    @Option(help: "Seeds per scheme: runs use seeds --seed, --seed + 1, ….") var seeds: Int = 1
    @Option(help: "First seed (init, data split and data order; the same for every scheme).") var seed: UInt64 = 0
    @Option(help: "Folder for the runs (<out>/<scheme>-seed<k>/) and compare.json.") var out: String
    @Option(help: "Data for the analyses (default: each run's own validation split).") var evalData: String?
    @Option(help: "Predicted tokens each analysis uses (whole batches).") var maxTokens: Int = 20_000
    @Option(help: "Sequences per forward pass in the analyses.") var analysisBatchSize: Int = 8
    @Flag(help: "Train only; skip the analyses.") var noAnalysis = false
    @OptionGroup(title: "Downstream stage") var downstream: DownstreamOptions

    /// Everything else: `train` options (--model, --data, --steps, --layers, --vocab-size, …).
    @Argument(parsing: .allUnrecognized, help: "Options passed to every `mixln train` run (--model, --data, --steps, …).")
    var trainArguments: [String] = []

    /// Options that compare sets per run itself and so may not be passed through.
    static let reserved = ["--norm", "--out", "--seed", "--resume", "--stop-after", "--json"]

    /// Throws one sentence for the first bad option (a `CLIError`, so no usage text follows it).
    func check() throws {
        guard seeds > 0 else { throw CLIError("--seeds must be positive, got \(seeds)") }
        guard maxTokens > 0 else { throw CLIError("--max-tokens must be positive, got \(maxTokens)") }
        guard analysisBatchSize > 0 else { throw CLIError("--analysis-batch-size must be positive, got \(analysisBatchSize)") }
        for argument in trainArguments {
            let name = String(argument.split(separator: "=", maxSplits: 1).first ?? "")
            if Self.reserved.contains(name) {
                throw CLIError("\(name) is set by compare for each run; use --norms, --seeds/--seed and --out instead")
            }
        }
        if noAnalysis, !downstream.tasks.isEmpty {
            throw CLIError("--tasks are scored with the analyses; drop --no-analysis (or --tasks)")
        }
        try downstream.check()
    }

    /// The seeds every scheme is trained with.
    var seedList: [UInt64] { (0..<UInt64(seeds)).map { seed + $0 } }
}
