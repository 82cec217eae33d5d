import ArgumentParser
import Foundation
import MixLNAnalysis

/// `mixln analyze …`: the paper's per-layer measurements on a checkpoint.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Per-layer measurements of a trained model.",
        subcommands: [GradNormsCommand.self])
}

/// `mixln analyze grad-norms`: L2 norm of the loss gradient per layer and per tensor.
struct GradNormsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grad-norms",
        abstract: "Gradient norms of the mean loss over the data, per decoder layer (attention, MLP, norms) and per tensor.")

    @OptionGroup var input: CheckpointInput
    @Flag(help: "Print one JSON document on stdout.") var json = false

    func run() throws {
        let model = try input.loadModel()
        let report = try GradientNormAnalysis.run(model, batches: try input.batches(for: model),
                                                  progress: StatusLine.progress("grad-norms"))
        if json {
            print(String(decoding: try JSONCoding.compact.encode(report), as: UTF8.self))
            return
        }
        print("loss \(fixed(report.loss, 4)) over \(report.tokens) tokens; total gradient norm \(scientific(report.norms.total))")
        print("layer   grad_norm   attention   mlp         norms")
        for layer in report.norms.layers {
            print(String(format: "%5d   %.3e   %.3e   %.3e   %.3e", layer.layer, layer.gradNorm, layer.attention, layer.mlp, layer.norms))
        }
        print("embedding \(scientific(report.norms.embedding))  final_norm \(scientific(report.norms.finalNorm))  lm_head \(scientific(report.norms.lmHead))")
    }
}
