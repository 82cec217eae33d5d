import Foundation
import MixLNData
import MixLNModel
import XCTest

/// The fine-tuning loss covers the replies only: the prompt is context and nothing else.
final class SupervisedLossTests: XCTestCase {
    func sequence(_ prompt: String) throws -> TokenSequence {
        try XCTUnwrap(SupervisedSequence.build(Conversation(turns: [.init(.user, prompt), .init(.assistant, "ab ba")], line: 1),
                                               template: .plain, tokenizer: ByteTokenizer(), options: SequenceOptions(seqLen: 32)))
    }

    func loss(_ model: Transformer<Float>, _ s: TokenSequence) throws -> Double {
        try model.forward(tokens: s.tokens, targets: s.targets, batch: 1, seqLen: s.tokens.count)
    }

    func testThePromptChangesTheLossOnlyThroughTheContext() throws {
        let a = try sequence("First prompt?"), b = try sequence("Other words!!")
        // A model whose next-token distribution ignores the context: another prompt changes nothing.
        let blind = try MultipleChoiceEvaluationTests.forcedModel()
        XCTAssertEqual(try loss(blind, a), try loss(blind, b), accuracy: 1e-6)
        XCTAssertEqual(blind.lastPredictedCount, "ab ba".utf8.count + 1, "reply bytes and EOS, no prompt token")
        // A model that reads its context: the replies' loss depends on the prompt.
        let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 2,
                                 vocabSize: ByteTokenizer().vocabularySize, maxSequenceLength: 32)
        let reading = try Transformer<Float>(config: config, plan: NormScheme.plan("pre", layers: 2))
        reading.initializeWeights(seed: 1)
        XCTAssertNotEqual(try loss(reading, a), try loss(reading, b))
    }
}
