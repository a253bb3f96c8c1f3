import Checkpoint
import Foundation
import Tokenizer

/// A model ready to serve: its name (the `{model}` of the routes) and its tokenizer.
public struct LoadedModel: Sendable {
    public var name: String
    public var engine: any TokenizerEngine

    public init(name: String, engine: any TokenizerEngine) {
        self.name = name
        self.engine = engine
    }

    /// Loads a model directory (config.json + weights) and builds its tokenizer. The name is the
    /// config's `name`, or the folder's name when that is empty.
    public static func load(from url: URL) throws -> LoadedModel {
        // Opened, not loaded: the tokenizer reads the tensors one by one as it builds its layers.
        let (config, weights, _) = try ModelDirectory.open(url)
        let tokenizer = try VQTokenizer(config: config, weights: weights)
        let name = config.name.isEmpty ? url.lastPathComponent : config.name
        return LoadedModel(name: name, engine: tokenizer)
    }
}
