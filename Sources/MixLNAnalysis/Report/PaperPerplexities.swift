import Foundation

/// The paper's reported C4 validation perplexities (Li, Yin, Liu, "Mix-LN", arXiv 2412.13795,
/// ICLR 2025), as copied into the project's notes on the paper (`paper-facts.md`, "Reported
/// results"); depths from the model configs listed there. The only copy of these numbers in the
/// code: the report shows them beside a study's own as context — other model sizes, corpus (C4),
/// tokenizer (t5-base) and token budgets — not as a target to match.
public enum PaperPerplexities {
    public struct Model {
        /// The paper's name for the size (`71M`).
        public var name: String
        public var layers: Int
        /// Training tokens as the paper states them (`1.1B`).
        public var tokens: String
        public var preLN: Double
        public var postLN: Double
        public var mixLN: Double
    }

    public static let models: [Model] = [
        Model(name: "71M", layers: 12, tokens: "1.1B", preLN: 34.77, postLN: 35.18, mixLN: 33.12),
        Model(name: "130M", layers: 12, tokens: "2.2B", preLN: 26.78, postLN: 26.95, mixLN: 26.07),
        Model(name: "250M", layers: 24, tokens: "3.9B", preLN: 21.92, postLN: 1409.09, mixLN: 21.39),
        Model(name: "1B", layers: 24, tokens: "5B", preLN: 18.65, postLN: 1411.54, mixLN: 18.18),
    ]

    /// The paper marks its diverged runs with perplexities of about 1400.
    public static func isDiverged(_ perplexity: Double) -> Bool { perplexity > 1000 }
}
