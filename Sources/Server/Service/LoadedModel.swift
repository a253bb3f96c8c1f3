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
        let directory = try ModelDirectory.load(url)
        let tokenizer = try VQTokenizer(config: directory.config, weights: directory.weights)
        let name = directory.config.name.isEmpty ? url.lastPathComponent : directory.config.name
        return LoadedModel(name: name, engine: tokenizer)
    }
}
