import Foundation

/// The tensors of a checkpoint folder: `model.safetensors`, or the shards listed by
/// `model.safetensors.index.json` (`{"weight_map": {name: file}}`), as Hugging Face writes them.
public final class SafeTensorsCollection {
    public let directory: String
    private var files: [String: SafeTensorsFile] = [:]
    /// Tensor name → file name inside `directory`.
    public let weightMap: [String: String]

    public init(directory: String) throws {
        self.directory = directory
        let single = (directory as NSString).appendingPathComponent("model.safetensors")
        let index = (directory as NSString).appendingPathComponent("model.safetensors.index.json")
        if FileManager.default.fileExists(atPath: single) {
            let file = try SafeTensorsFile(path: single)
            files["model.safetensors"] = file
            weightMap = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, "model.safetensors") })
        } else if FileManager.default.fileExists(atPath: index) {
            guard let data = FileManager.default.contents(atPath: index),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let map = object["weight_map"] as? [String: String] else {
                throw SafeTensorsError(index, "not a JSON object with a 'weight_map' of tensor names to file names")
            }
            weightMap = map
            for name in Set(map.values).sorted() {
                guard !name.contains("/") else { throw SafeTensorsError(index, "shard name '\(name)' must be a file in the same folder") }
                let file = try SafeTensorsFile(path: (directory as NSString).appendingPathComponent(name))
                for tensor in file.tensors where map[tensor.name] == nil {
                    throw SafeTensorsError(file.path, "tensor '\(tensor.name)' is not listed in model.safetensors.index.json")
                }
                files[name] = file
            }
            for (tensor, fileName) in map where files[fileName]?.info(tensor) == nil {
                throw SafeTensorsError((directory as NSString).appendingPathComponent(fileName),
                                       "missing tensor '\(tensor)' that model.safetensors.index.json places here")
            }
        } else {
            throw SafeTensorsError(directory, "no model.safetensors or model.safetensors.index.json")
        }
    }

    /// Every tensor name, sorted.
    public var names: [String] { weightMap.keys.sorted() }

    public func info(_ name: String) -> SafeTensorInfo? { weightMap[name].flatMap { files[$0]?.info(name) } }

    /// The stored bytes of tensor `name`, in place in its memory-mapped file: valid as long as this collection lives.
    public func bytes(_ name: String) throws -> UnsafeRawBufferPointer {
        guard let fileName = weightMap[name], let file = files[fileName] else {
            throw SafeTensorsError(directory, "missing tensor '\(name)'")
        }
        return try file.bytes(name)
    }

    public func read<T: TensorScalar>(_ name: String, into out: UnsafeMutablePointer<T>) throws {
        guard let fileName = weightMap[name], let file = files[fileName] else {
            throw SafeTensorsError(directory, "missing tensor '\(name)'")
        }
        try file.read(name, into: out)
    }
}
