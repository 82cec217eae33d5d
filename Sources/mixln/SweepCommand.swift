import ArgumentParser

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
