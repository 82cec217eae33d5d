import Foundation
import XCTest
import MixLNTensor
@testable import MixLNModel

final class ModelDirectoryTests: XCTestCase {
    var directory: String!
    let config = ModelConfig(hiddenSize: 16, intermediateSize: 24, numAttentionHeads: 2, numHiddenLayers: 4,
                             vocabSize: 40, maxSequenceLength: 16)

    override func setUpWithError() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("modeldir-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: directory) }

    func savedModel(_ scheme: String, dtype: SafeTensorsDType = .float32) throws -> Transformer<Float> {
        let model = try Transformer<Float>(config: config, plan: NormScheme.plan(scheme, layers: 4))
        model.initializeWeights(seed: 3)
        try ModelDirectory.save(model, to: directory, dtype: dtype)
        return model
    }

    func expectError(_ fragment: String, norm: String? = nil, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try ModelDirectory.load(directory, norm: norm) as Transformer<Float>, file: file, line: line) {
            XCTAssertTrue("\($0)".contains(fragment), "\($0)", file: file, line: line)
        }
    }

    func rewriteConfig(_ change: (inout [String: Any]) -> Void) throws {
        let path = (directory as NSString).appendingPathComponent("config.json")
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        change(&object)
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: path))
    }

    func testRoundTripKeepsWeightsAndPlanForEveryScheme() throws {
        for scheme in ["pre", "post", "mix:1", "sandwich", "peri", "deepnorm", "lns", "scaled-mix:2"] {
            let model = try savedModel(scheme)
            let loaded: Transformer<Float> = try ModelDirectory.load(directory)
            XCTAssertEqual(loaded.plan, model.plan, scheme)
            XCTAssertEqual(loaded.parameters.array, model.parameters.array, scheme)
        }
    }

    func testConfigCarriesOfficialNormType() throws {
        _ = try savedModel("mix:1")
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/config.json"))) as? [String: Any])
        XCTAssertEqual(object["norm_type"] as? String, "post_pre")
        XCTAssertEqual(object["post_num"] as? Int, 1)
        XCTAssertNotNil(object["norm_plan"])
        XCTAssertEqual(object["hidden_size"] as? Int, 16)
    }

    /// norm_type names an official NORM_TYPE only when the official code builds exactly this plan.
    func testConfigNamesOfficialNormTypeOnlyForAnExactMatch() throws {
        for (scheme, normType) in [("mix-reversed:1", "mix-reversed:1"), ("scaled-mix:2", "scaled-mix:2"),
                                   ("scale_post_pre", "scale_post_pre"), ("deepnorm-official", "deeppost")] {
            let model = try savedModel(scheme)
            let path = directory + "/config.json"
            let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            XCTAssertEqual(object["norm_type"] as? String, normType, scheme)
            try rewriteConfig { $0.removeValue(forKey: "norm_plan") }
            XCTAssertEqual(try (ModelDirectory.load(directory) as Transformer<Float>).plan, model.plan, "\(scheme): norm_type alone rebuilds it")
        }
    }

    func testBF16CheckpointLoadsRounded() throws {
        let model = try savedModel("pre", dtype: .bfloat16)
        let loaded: Transformer<Float> = try ModelDirectory.load(directory)
        for i in stride(from: 0, to: model.parameterCount, by: 97) {
            XCTAssertEqual(loaded.parameters[i], BFloat16.float(BFloat16.bits(model.parameters[i])))
        }
    }

    func testOfficialFolderNeedsNormAndMustMatchIt() throws {
        _ = try savedModel("post")
        try rewriteConfig { $0.removeValue(forKey: "norm_plan"); $0.removeValue(forKey: "norm_type"); $0.removeValue(forKey: "post_num") }
        expectError("records no norm placement")
        XCTAssertNoThrow(try ModelDirectory.load(directory, norm: "post") as Transformer<Float>)
        expectError("missing tensor 'model.layers.0.input_layernorm.weight'", norm: "pre")
        _ = try savedModel("sandwich")
        try rewriteConfig { $0.removeValue(forKey: "norm_plan"); $0.removeValue(forKey: "norm_type") }
        expectError("unexpected tensor 'model.layers.0.post_feedforward_layernorm.weight'", norm: "pre")
        _ = try savedModel("post")
        try rewriteConfig { $0.removeValue(forKey: "norm_plan"); $0.removeValue(forKey: "norm_type") }
        try rewriteConfig { $0["norm_type"] = "post_pre"; $0["post_num"] = 4 }
        XCTAssertEqual(try (ModelDirectory.load(directory) as Transformer<Float>).plan.layers,
                       try NormScheme.plan("post", layers: 4).layers, "norm_type + post_num rebuild the plan")
    }

    func testSavedPlanAndNormMustAgree() throws {
        _ = try savedModel("mix:1")
        expectError("disagree", norm: "pre")
        XCTAssertNoThrow(try ModelDirectory.load(directory, norm: "post_pre", postNum: 1) as Transformer<Float>)
    }

    func testShapeMismatchAndMissingFiles() throws {
        _ = try savedModel("pre")
        try rewriteConfig { $0["intermediate_size"] = 32 }
        expectError("has shape [24, 16], expected [32, 16]")
        try FileManager.default.removeItem(atPath: directory + "/model.safetensors")
        expectError("no model.safetensors")
        try FileManager.default.removeItem(atPath: directory + "/config.json")
        expectError("no config.json")
    }
}
