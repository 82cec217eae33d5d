import ArgumentParser
import MixLNTrain

extension TrainingPrecision: ExpressibleByArgument {}

/// `--precision`, shared by train, bench, eval, analyze and generate.
struct PrecisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "fp32 (default), bf16 (mixed precision: matrix products on bf16 inputs with fp32 sums through oneDNN; fp32 master weights, Adam state, norms, softmax and loss), or bf16-pure (as the official runs: weights and Adam state also rounded to bf16 after each update).",
        discussion: "Commands that do not train compute bf16-pure as bf16."))
    var precision: TrainingPrecision?

    /// The precision asked for, fp32 when none was.
    var resolved: TrainingPrecision { precision ?? .fp32 }
}
