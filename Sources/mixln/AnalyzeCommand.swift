import ArgumentParser
import Foundation
import MixLNAnalysis

/// `mixln analyze …`: the paper's per-layer measurements on a checkpoint.
struct AnalyzeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "analyze",
        abstract: "Per-layer measurements of a trained model.",
        subcommands: [GradNormsCommand.self, AngularCommand.self, LayerDropCommand.self, DepthCommand.self, LogitLensCommand.self])
}

/// `mixln analyze grad-norms`: L2 norm of the loss gradient per layer and per tensor.
struct GradNormsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "grad-norms",
        abstract: "Gradient norms of the mean loss over the data, per decoder layer (attention, MLP, norms) and per tensor.")

    @OptionGroup var input: CheckpointInput
    @Flag(help: "Print one JSON document on stdout.") var json = false

    func run() throws {
        let model = try input.loadModel(needsGradients: true)
        let report = try GradientNormAnalysis.run(model, batches: try input.batches(for: model),
                                                  progress: StatusLine.progress("grad-norms"))
        if json {
            try JSONCoding.printDocument(report)
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

/// `mixln analyze angular`: angular distance between the inputs of layers ℓ and ℓ+n.
struct AngularCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "angular",
        abstract: "Angular distance arccos(cos(x_ℓ, x_ℓ+n))/π between layer inputs, averaged over tokens, for every (ℓ, n).")

    @OptionGroup var input: CheckpointInput
    @Flag(help: "Use only the last real token of each sequence, as the paper's released code does.") var lastToken = false
    @Flag(help: "Print one JSON document on stdout.") var json = false

    func run() throws {
        let model = try input.loadModel()
        let report = try AngularDistance.run(model, batches: try input.batches(for: model), lastTokenOnly: lastToken,
                                             progress: StatusLine.progress("angular"))
        if json {
            try JSONCoding.printDocument(report)
            return
        }
        let L = model.config.numHiddenLayers
        print("angular distance over \(report.tokens) tokens; rows: layer ℓ, columns: n = 1…\(L)")
        for l in 0..<L {
            let cells = (1...L).map { n in report.distance(layer: l, n: n).map { String(format: "%.3f", $0) } ?? "    -" }
            print(String(format: "%3d  ", l) + cells.joined(separator: " "))
        }
    }
}

/// `mixln analyze layer-drop`: perplexity with each decoder layer removed.
struct LayerDropCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layer-drop",
        abstract: "Perplexity (and, with --tasks, multiple-choice accuracy) of the model with each decoder layer bypassed in turn, and the drop against the full model.")

    @OptionGroup var input: CheckpointInput
    @Option(parsing: .upToNextOption, help: "Multiple-choice task files (as eval-mc reads them): also report each task's acc and acc_norm with each layer removed.")
    var tasks: [String] = []
    @Option(help: "With --tasks: only the first N questions of each task file.") var limit: Int?
    @Option(help: "With --tasks: padded tokens per forward pass.") var batchTokens: Int = TaskFiles.defaultBatchTokens
    @Flag(help: "Print one JSON document on stdout.") var json = false

    func run() throws {
        let model = try input.loadModel()
        guard batchTokens > 0 else { throw CLIError("--batch-tokens must be positive, got \(batchTokens)") }
        let encoded = tasks.isEmpty ? [] : try TaskFiles.load(
            tasks, limit: limit, tokenizer: checkpointTokenizer(checkpoint: input.checkpoint, given: input.tokenizer, model: model),
            window: model.config.maxSequenceLength)
        var report = try LayerRemoval.run(model, batches: try input.batches(for: model), progress: StatusLine.progress("layer-drop"))
        if !encoded.isEmpty {
            report = report.adding(accuracy: try LayerDropAccuracy.run(model, tasks: encoded, batchTokens: batchTokens,
                                                                       progress: StatusLine.bar("layer-drop accuracy", unit: "choices")))
        }
        if json {
            try JSONCoding.printDocument(report)
            return
        }
        print("full model: loss \(fixed(report.baseline.loss, 4)), perplexity \(fixed(report.baseline.perplexity, 3)) over \(report.tokens) tokens")
        for task in report.baseline.tasks ?? [] {
            print("  \(task.task): acc \(fixed(task.acc, 4)), acc_norm \(fixed(task.accNorm, 4)) over \(task.n) questions")
        }
        let taskHeader = (report.baseline.tasks ?? []).map { "  \($0.task) acc (Δ), acc_norm (Δ)" }.joined()
        print("layer  perplexity  ΔP" + taskHeader)
        for entry in report.layers {
            let accuracy = (entry.tasks ?? []).map {
                String(format: "  %.4f (%+.4f), %.4f (%+.4f)", $0.acc, $0.deltaAcc, $0.accNorm, $0.deltaAccNorm)
            }.joined()
            print(String(format: "%5d  %10.3f  %+.3f", entry.layer, entry.perplexity, entry.deltaPerplexity) + accuracy)
        }
    }
}

/// `mixln analyze depth`: RMS of the residual stream and of each sublayer's contribution against depth.
struct DepthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "depth",
        abstract: "RMS of the residual stream entering each layer and of each sublayer's output and update, averaged over real tokens.")

    @OptionGroup var input: CheckpointInput
    @Flag(help: "Print one JSON document on stdout.") var json = false

    func run() throws {
        let model = try input.loadModel()
        let report = try DepthStatistics.run(model, batches: try input.batches(for: model), progress: StatusLine.progress("depth"))
        if json {
            try JSONCoding.printDocument(report)
            return
        }
        print("RMS over \(report.tokens) tokens (mean of each token's RMS)")
        print("layer   stream in   mlp in      attn f      attn add    mlp f       mlp add")
        for l in report.layers {
            print(String(format: "%5d   %.3e   %.3e   %.3e   %.3e   %.3e   %.3e", l.layer, l.inputRMS, l.mlpInputRMS,
                         l.attentionOutputRMS, l.attentionUpdateRMS, l.mlpOutputRMS, l.mlpUpdateRMS))
        }
        print("output (before the final norm) \(scientific(report.outputRMS))")
    }
}

/// `mixln analyze logit-lens`: the model's prediction read off the residual stream entering each layer.
struct LogitLensCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logit-lens",
        abstract: "Final norm + LM head applied to the input of each layer ℓ = 0…L: loss against the next token, top-1 agreement with the model and KL(p_L ‖ p_ℓ), averaged over predicted tokens.")

    @OptionGroup var input: CheckpointInput
    @Flag(help: "Print one JSON document on stdout.") var json = false

    func run() throws {
        let model = try input.loadModel()
        let report = try LogitLens.run(model, batches: try input.batches(for: model), progress: StatusLine.progress("logit-lens"))
        if json {
            try JSONCoding.printDocument(report)
            return
        }
        let L = report.layers.count - 1
        print("logit lens over \(report.tokens) tokens: final norm + LM head on the input of layer ℓ (ℓ = \(L): the model's output)")
        print("layer   loss      top-1 agreement   KL(final ‖ layer), nats")
        for l in report.layers {
            print(String(format: "%5d   %7.4f   %15.4f   %17.3e", l.layer, l.loss, l.top1Agreement, l.klToFinal))
        }
    }
}
