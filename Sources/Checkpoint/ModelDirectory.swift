import Foundation

/// A model folder: `config.json` plus `model.safetensors` (or, failing that, exactly one
/// upstream PyTorch checkpoint `*.pth` / `*.pt` / `*.ckpt`). See Models/README.md.
public struct ModelDirectory: Sendable {
    public let url: URL
    public let config: ModelConfig
    public let weights: TensorSet
    /// The file the weights came from.
    public let weightsFile: URL

    public static let configFileName = "config.json"
    public static let weightsFileName = "model.safetensors"
    public static let pytorchExtensions: Set<String> = ["pth", "pt", "ckpt"]

    /// Reads the config (validated) and the weights. Checking the weights against the config
    /// (names, shapes) is the tokenizer's job: it knows which tensors the architecture needs.
    public static func load(_ url: URL) throws(CheckpointError) -> ModelDirectory {
        let (config, source, file) = try open(url)
        let weights: TensorSet
        switch source {
        case .safetensors: weights = try SafeTensors.load(contentsOf: file)
        case .tensors(let set): weights = set
        }
        return ModelDirectory(url: url, config: config, weights: weights, weightsFile: file)
    }

    /// Where a model's weights come from: a safetensors file read tensor by tensor as the model
    /// is built, or a PyTorch checkpoint (read whole: its zip is parsed as one).
    public enum WeightsSource {
        case safetensors(SafeTensorsFile)
        case tensors(TensorSet)
    }

    /// Reads the config (validated) and opens the weights without reading a safetensors file's
    /// tensors yet: what a server uses to build a model with the least memory.
    public static func open(_ url: URL) throws(CheckpointError) -> (config: ModelConfig, weights: WeightsSource,
                                                                     weightsFile: URL) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .io("\(url.path) is not a model directory")
        }
        let configURL = url.appendingPathComponent(configFileName)
        guard FileManager.default.fileExists(atPath: configURL.path) else {
            throw .invalidConfig("\(url.path) has no \(configFileName)")
        }
        let config: ModelConfig
        do {
            config = try ModelConfig.load(contentsOf: configURL)
        } catch .invalidConfig(let why) {
            throw .invalidConfig("\(configURL.path): \(why)")
        }
        let file = try weightsFile(in: url)
        let weights: WeightsSource = file.pathExtension == "safetensors"
            ? .safetensors(try SafeTensorsFile(contentsOf: file))
            : .tensors(try PyTorchCheckpoint.load(contentsOf: file))
        return (config, weights, file)
    }

    /// `model.safetensors` if present, else the single PyTorch checkpoint in the folder.
    public static func weightsFile(in url: URL) throws(CheckpointError) -> URL {
        let safetensors = url.appendingPathComponent(weightsFileName)
        if FileManager.default.fileExists(atPath: safetensors.path) { return safetensors }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: url.path)
        } catch {
            throw .io("\(url.path): \(error.localizedDescription)")
        }
        let candidates = names.filter { pytorchExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
        switch candidates.count {
        case 1: return url.appendingPathComponent(candidates[0])
        case 0: throw .io("\(url.path) has no \(weightsFileName) and no .pth/.pt/.ckpt checkpoint")
        default:
            throw .io("\(url.path) has no \(weightsFileName) and several checkpoints (\(candidates.joined(separator: ", "))); keep one")
        }
    }
}
