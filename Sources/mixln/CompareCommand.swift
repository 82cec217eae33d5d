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
            analysis/{grad_norms,angular,layer_drop,depth}.json written on the validation data. With --sft-data each \
            run is fine-tuned with `mixln sft` into <run>/sft/ (the same options and seed for every scheme); with \
            --tasks the final model is scored as eval-mc scores it into analysis/eval_mc.json, and layer_drop.json \
            becomes that model's with each task's accuracy drop. Running the command again trains, fine-tunes and \
            analyzes only what is missing. Render the result with `mixln report <out> --out report.html`.
            """)

    @Option(help: "Comma-separated norm schemes, e.g. pre,post,mix,sandwich,lns.") var norms: String
    @OptionGroup var options: ComparisonOptions

    func run() throws {
        let schemes = norms.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let record = try Comparison(schemes: schemes, options: options).run()
        ComparisonTable.print(record)
    }
}
