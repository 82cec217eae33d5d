import ArgumentParser

/// The `mixln` command: train, benchmark and (later) analyze LLaMA models with per-layer norm placement.
@main
struct MixLN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mixln",
        abstract: "Train and diagnose LLaMA-style models whose layer-norm placement is chosen per layer (Mix-LN, ICLR 2025).",
        subcommands: [TrainCommand.self, EvalCommand.self, EvalMCCommand.self, SFTCommand.self, DPOCommand.self, AnalyzeCommand.self, CompareCommand.self, SweepCommand.self,
                      ReportCommand.self, GenerateCommand.self, BenchCommand.self, PrepareCommand.self, TokenizeCommand.self,
                      TokenizerCommand.self]
    )

    static func main() {
        OpenMPWaitPolicy.makePassiveUnlessSet()
        main(nil)
    }
}
