import XCTest
import MixLNTensor
@testable import MixLNModel

final class TextGeneratorTests: XCTestCase {
    var config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 4,
                             vocabSize: 30, maxSequenceLength: 12)

    /// Logits of every position from one full forward (ignored targets leave the logits in place).
    func fullLogits(_ model: Transformer<Double>, _ tokens: [Int32]) throws -> [[Double]] {
        try model.forward(tokens: tokens, targets: Array(repeating: CrossEntropy.ignoreIndex, count: tokens.count),
                          batch: 1, seqLen: tokens.count)
        let logits = model.activations!.logits
        return (0..<tokens.count).map { t in (0..<config.vocabSize).map { logits[t * config.vocabSize + $0] } }
    }

    func testCachedDecodingMatchesTheFullForwardForEveryPlacement() throws {
        let tokens: [Int32] = [3, 17, 29, 0, 8, 8, 21, 5]
        for scheme in ["pre", "post", "mix:1", "sandwich", "peri", "deepnorm", "lns", "reordered", "skipinit", "layerscale:0.5", "hybrid-star",
                       "dyt-peri", "dyt-mix:1"] {
            let model = try Transformer<Double>(config: config, plan: NormScheme.plan(scheme, layers: 4))
            model.initializeWeights(seed: 11)
            for i in 0..<model.parameterCount where model.parameters[i] != 1 { model.parameters[i] *= 4 }
            let expected = try fullLogits(model, tokens)
            let generator = TextGenerator(model: model)
            for (t, token) in tokens.enumerated() {
                try generator.feed(token)
                let got = (0..<config.vocabSize).map { generator.logits[$0] }
                for v in 0..<config.vocabSize {
                    XCTAssertEqual(got[v], expected[t][v], accuracy: 1e-10, "\(scheme) position \(t) id \(v)")
                }
            }
        }
    }

    func testCachedDecodingWithGroupedQueryAttentionAndTiedHead() throws {
        config = ModelConfig(hiddenSize: 24, intermediateSize: 24, numAttentionHeads: 4, numHiddenLayers: 2,
                             vocabSize: 30, maxSequenceLength: 12, numKeyValueHeads: 2, tieWordEmbeddings: true)
        let model = try Transformer<Double>(config: config, plan: NormScheme.plan("pre", layers: 2))
        model.initializeWeights(seed: 5)
        XCTAssertNil(model.layout.tensor(named: "lm_head.weight"))
        XCTAssertEqual(model.layout.tensor(named: "model.layers.0.self_attn.k_proj.weight")?.shape, [12, 24])
        let tokens: [Int32] = [4, 9, 1, 22, 7]
        let expected = try fullLogits(model, tokens)
        let generator = TextGenerator(model: model)
        for (t, token) in tokens.enumerated() {
            try generator.feed(token)
            for v in 0..<config.vocabSize { XCTAssertEqual(generator.logits[v], expected[t][v], accuracy: 1e-10) }
        }
    }

    func testGreedyAndSampledGeneration() throws {
        let model = try Transformer<Double>(config: config, plan: NormScheme.plan("mix", layers: 4))
        model.initializeWeights(seed: 2)
        let generator = TextGenerator(model: model)
        let greedy = try generator.generate(prompt: [1, 2, 3], maxNewTokens: 5, options: SamplingOptions())
        XCTAssertEqual(greedy.count, 5)
        // Greedy: each token is the argmax of the full forward over the sequence so far.
        var sequence: [Int32] = [1, 2, 3]
        for token in greedy {
            let last = try fullLogits(model, sequence).last!
            XCTAssertEqual(Int(token), last.indices.max { last[$0] < last[$1] }!)
            sequence.append(token)
        }
        let sampled = try generator.generate(prompt: [1, 2, 3], maxNewTokens: 5, options: SamplingOptions(temperature: 1, topK: 3, seed: 9))
        let again = try generator.generate(prompt: [1, 2, 3], maxNewTokens: 5, options: SamplingOptions(temperature: 1, topK: 3, seed: 9))
        XCTAssertEqual(sampled, again, "seeded sampling is reproducible")
        // Stops at the context limit of 12 positions: 3 prompt + at most 9 new.
        XCTAssertEqual(try generator.generate(prompt: [1, 2, 3], maxNewTokens: 50, options: SamplingOptions()).count, 9)
        XCTAssertThrowsError(try generator.feed(30))
    }
}
