import ArgumentParser
import Foundation

/// `mixln compare`: the same training under several norm placements, then the paper's analyses of each.
struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Train one model per norm scheme × seed with identical data and seeds, then analyze each final checkpoint.",
        discussion: """
            Every option not listed here is passed to each `mixln train` run (--model, --data, --steps, --layers, \
            --vocab-size, --batch-size, --seq-len, --lr, --packing, …). Runs go to <out>/<scheme>-seed<k>/, with \
            analysis/{grad_norms,angular,layer_drop,depth}.json written on the validation data. Running the command \
            again trains and analyzes only what is missing. Render the result with `mixln report <out> --out report.html`.
            """)

    @Option(help: "Comma-separated norm schemes, e.g. pre,post,mix,sandwich,lns.") var norms: String
    @OptionGroup var options: ComparisonOptions

    func run() throws {
        let schemes = norms.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let record = try Comparison(schemes: schemes, options: options).run()
        ComparisonTable.print(record)
    }
}

/// `mixln sweep`: `compare` over Mix-LN's number of leading Post-LN layers.
struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Compare Mix-LN with different numbers of leading Post-LN layers (mix:K for each K).",
        discussion: "Same as `mixln compare --norms mix:K1,mix:K2,…`; K = 0 is Pre-LN and K = L is Post-LN.")

    @Option(help: "Comma-separated counts of leading Post-LN layers, e.g. 0,1,2,3,4,6.") var postLayers: String
    @OptionGroup var options: ComparisonOptions

    func run() throws {
        var schemes: [String] = []
        for part in postLayers.split(separator: ",") {
            guard let k = Int(part.trimmingCharacters(in: .whitespaces)), k >= 0 else {
                throw CLIError("--post-layers takes non-negative whole numbers, got '\(part)'")
            }
            schemes.append("mix:\(k)")
        }
        let record = try Comparison(schemes: schemes, options: options).run()
        ComparisonTable.print(record)
    }
}

/// The table `compare` and `sweep` print on stdout at the end.
enum ComparisonTable {
    static func print(_ record: Comparison.Record) {
        Swift.print("run                      status      steps  val ppl     time")
        for run in record.runs {
            let ppl = run.validationPerplexity.map { fixed($0, 3) } ?? "-"
            let status = run.status == "diverged" ? "diverged@\(run.divergedAt ?? run.steps)" : run.status
            Swift.print(pad(run.name, 24) + " " + pad(status, 11) + " " + pad(String(run.steps), 6) + " " + pad(ppl, 11) + " "
                        + duration(run.elapsedSeconds))
        }
    }

    private static func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s : s + String(repeating: " ", count: width - s.count) }
}
