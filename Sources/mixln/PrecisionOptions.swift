import ArgumentParser
import MixLNModel
import MixLNTensor
import MixLNTrain

/// `--precision`, shared by train, sft, bench, eval, eval-mc, analyze and generate.
///
/// Read as text and checked when the command runs, so that a wrong value is the one-line error
/// every other bad option gives (an `ExpressibleByArgument` enum would print the usage too).
struct PrecisionOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "fp32 (default; bf16 for a checkpoint held in bf16 by a command that does not train, see --weights), bf16 (mixed precision: matrix products on bf16 inputs with fp32 sums through oneDNN; fp32 master weights, Adam state, norms, softmax and loss), or bf16-pure (as the official runs: weights and Adam state also rounded to bf16 after each update).",
        discussion: "Commands that do not train compute bf16-pure as bf16."))
    var precision: String?

    /// The precision given, nil when none was.
    func requested() throws -> TrainingPrecision? {
        guard let precision else { return nil }
        guard let value = TrainingPrecision(rawValue: precision) else {
            let names = TrainingPrecision.allCases.map(\.rawValue).joined(separator: ", ")
            throw CLIError("--precision must be one of \(names), got '\(precision)'")
        }
        return value
    }

    /// The precision given, fp32 when none was.
    func resolved() throws -> TrainingPrecision { try requested() ?? .fp32 }

    /// How `model`'s products are computed: as given, else in bf16 when its weights are held in
    /// bf16 (the GEMMs read them in place, as PyTorch runs a bf16 model) and in fp32 otherwise.
    func matmulPrecision(for model: Transformer<Float>) throws -> MatmulPrecision {
        if let given = try requested() { return given.matmul }
        return model.weightPrecision == .bf16 ? .bf16 : .fp32
    }
}
