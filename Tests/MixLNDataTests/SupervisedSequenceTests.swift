import Foundation
import XCTest
@testable import MixLNData

/// Templates and the reply-only targets of supervised fine-tuning sequences.
final class SupervisedSequenceTests: XCTestCase {
    let conversation = Conversation(turns: [.init(.system, "Sys."), .init(.user, "Q1"), .init(.assistant, "A1"),
                                            .init(.user, "Q2"), .init(.assistant, "A2")], line: 1)

    func testTemplatesRenderContextAndReplies() {
        typealias S = ChatTemplate.Segment
        XCTAssertEqual(ChatTemplate.alpaca.segments(conversation), [
            S(text: "Sys.\n\n### Instruction:\nQ1\n\n### Response:\n", isReply: false), S(text: "A1", isReply: true),
            S(text: "\n\n### Instruction:\nQ2\n\n### Response:\n", isReply: false), S(text: "A2", isReply: true),
        ])
        XCTAssertEqual(ChatTemplate.alpaca.segments(Conversation(turns: [.init(.user, "Q"), .init(.assistant, "A")], line: 1)).first?.text,
                       ChatTemplate.alpacaSystem + "\n\n### Instruction:\nQ\n\n### Response:\n")
        XCTAssertEqual(ChatTemplate.chatml.segments(conversation), [
            S(text: "<|im_start|>system\nSys.<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n", isReply: false),
            S(text: "A1<|im_end|>", isReply: true),
            S(text: "\n<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n", isReply: false),
            S(text: "A2<|im_end|>", isReply: true),
        ])
        XCTAssertEqual(ChatTemplate.plain.segments(conversation), [
            S(text: "Sys.\n\nQ1\n", isReply: false), S(text: "A1", isReply: true), S(text: "\nQ2\n", isReply: false), S(text: "A2", isReply: true),
        ])
    }

    func testOnlyReplyTokensAndTheirEOSAreTargets() throws {
        let tokenizer = ByteTokenizer(), eos = try XCTUnwrap(tokenizer.eosId)
        let options = SequenceOptions(seqLen: 64)
        let sequence = try XCTUnwrap(SupervisedSequence.build(conversation, template: .plain, tokenizer: tokenizer, options: options))
        func bytes(_ text: String) -> [Int32] { text.utf8.map { Int32($0) } }
        let ids: [Int32] = bytes("Sys.\n\nQ1\n") + bytes("A1") + [eos] + bytes("\nQ2\n") + bytes("A2") + [eos]
        XCTAssertEqual(Array(sequence.tokens.prefix(ids.count)), ids)
        XCTAssertTrue(sequence.tokens.dropFirst(ids.count).allSatisfy { $0 == tokenizer.padId })
        let counted = sequence.targets.enumerated().filter { $0.element != -100 }
        XCTAssertEqual(counted.map(\.element), bytes("A1") + [eos] + bytes("A2") + [eos])
        XCTAssertEqual(counted.first?.offset, 8, "the first target is predicted from the prompt's last token")
    }

    /// Changing the prompt changes the context the replies are predicted from, and nothing else:
    /// the targets — what the loss is computed on — stay exactly the reply tokens.
    func testChangingThePromptChangesOnlyTheContext() throws {
        let tokenizer = ByteTokenizer(), options = SequenceOptions(seqLen: 48)
        func sequence(_ prompt: String) throws -> TokenSequence {
            try XCTUnwrap(SupervisedSequence.build(Conversation(turns: [.init(.user, prompt), .init(.assistant, "The answer.")], line: 1),
                                                   template: .plain, tokenizer: tokenizer, options: options))
        }
        let a = try sequence("What is it?"), b = try sequence("Tell me now")  // prompts of equal length
        XCTAssertNotEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.targets, b.targets, "same targets at the same positions")
        let differing = zip(a.tokens, b.tokens).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        XCTAssertEqual(differing.max(), "What is it?".utf8.count - 1, "only prompt positions differ")
        XCTAssertEqual(a.predictedTokenCount(), "The answer.".utf8.count + 1)
    }

    func testBOSComesFirstAndACutOffReplyDropsTheRecord() throws {
        let llama = try TokenizerLoader.load(path: TokenizerParityTests.fixture("llama_bpe.json"))
        let record = Conversation(turns: [.init(.user, "A question that is long enough to fill the window"), .init(.assistant, "Yes")], line: 1)
        let full = try XCTUnwrap(SupervisedSequence.build(record, template: .plain, tokenizer: llama, options: SequenceOptions(seqLen: 64)))
        XCTAssertEqual(full.tokens.first, llama.bosId)
        XCTAssertEqual(full.targets.first, -100, "BOS predicts a prompt token: no target")
        XCTAssertNil(SupervisedSequence.build(record, template: .plain, tokenizer: llama, options: SequenceOptions(seqLen: 4)),
                     "no reply token within the window")
    }
}
