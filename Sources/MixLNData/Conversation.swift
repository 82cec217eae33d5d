/// One supervised fine-tuning example: the turns of a conversation, of which the assistant's replies
/// are what the model learns to produce.
public struct Conversation: Sendable, Equatable {
    public enum Role: String, Sendable, Equatable {
        case system, user, assistant
    }

    public struct Turn: Sendable, Equatable {
        public var role: Role
        public var content: String

        public init(_ role: Role, _ content: String) {
            self.role = role
            self.content = content
        }
    }

    public var turns: [Turn]
    /// 1-based line of the record in its file (where a JSON array element starts).
    public var line: Int

    public init(turns: [Turn], line: Int) {
        self.turns = turns
        self.line = line
    }
}
