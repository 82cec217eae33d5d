import Foundation

/// The official model sizes (`llama_20m.json`, …), shipped as resources with the official keys.
public enum ModelPresets {
    /// Preset names in size order.
    public static let names = ["9m", "20m", "35m", "40m", "60m", "71m", "100m", "130m", "250m", "350m", "1b", "3b", "7b"]

    /// The config for a preset name (`20m`, `llama_20m` or `llama_20m.json`).
    public static func config(named name: String) throws -> ModelConfig {
        var key = name.lowercased()
        if key.hasSuffix(".json") { key.removeLast(5) }
        if key.hasPrefix("llama_") { key.removeFirst(6) }
        guard names.contains(key),
              let url = Bundle.module.url(forResource: "llama_\(key)", withExtension: "json", subdirectory: "Presets")
                ?? Bundle.module.url(forResource: "llama_\(key)", withExtension: "json")
        else { throw ModelError.unknownPreset(name, available: names) }
        return try ModelConfig.load(contentsOf: url)
    }

    /// A preset name or a path to a `config.json` (anything that exists on disk or ends in `.json` is a path).
    public static func resolve(_ nameOrPath: String) throws -> ModelConfig {
        let isPath = FileManager.default.fileExists(atPath: nameOrPath) || nameOrPath.contains("/")
        if isPath {
            var url = URL(fileURLWithPath: nameOrPath)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
                url.appendPathComponent("config.json")
            }
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw ModelError.unreadableFile(url.path, "no such file")
            }
            return try ModelConfig.load(contentsOf: url)
        }
        return try config(named: nameOrPath)
    }
}
