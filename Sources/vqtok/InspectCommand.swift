import ArgumentParser
import Checkpoint
import Foundation
import Tokenizer

/// `vqtok inspect DIR`: what a model folder holds, checked by building its tokenizer.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a model's family, quantizer, token grid, codebook and parameter count.")

    @Argument(help: "A model directory (config.json + model.safetensors or a PyTorch checkpoint).")
    var model: String

    func run() throws {
        let directory = try ModelDirectory.load(URL(fileURLWithPath: model))
        let tokenizer = try VQTokenizer(config: directory.config, weights: directory.weights)
        let config = directory.config
        let side = config.preprocessing.resolution
        let grid = side / tokenizer.downsampleFactor
        let quantizer = config.quantizer
        let groups = quantizer.idsPerPosition
        var codebook = "\(quantizer.codebookSize) × \(quantizer.embedDim / groups)"
        if let frozen = quantizer.frozenCodebookDim {
            codebook += " (frozen \(quantizer.codebookSize) × \(frozen), projected \(frozen) → \(quantizer.embedDim))"
        }
        let lines = [
            ("name", config.name),
            ("family", config.family.rawValue),
            ("quantizer", quantizer.kind.rawValue
                + (groups > 1 ? " (\(groups) groups of \(quantizer.embedDim / groups) channels, one id each)" : "")),
            ("codebook", codebook),
            ("input", "\(side) × \(side) RGB, shortest side resized"
                + (config.preprocessing.shortestSide.map { " to \($0)" } ?? "")
                + " (\(config.preprocessing.interpolation.rawValue)), center crop"),
            ("token grid", "\(grid) × \(grid)" + (groups > 1 ? " × \(groups) (ids per position)" : "")
                + " (downsample factor \(tokenizer.downsampleFactor))"),
            ("parameters", "\(tokenizer.parameterCount.formatted()) (\(directory.weights.names.count) tensors in \(directory.weightsFile.lastPathComponent))"),
        ]
        for (key, value) in lines {
            print(key.padding(toLength: 12, withPad: " ", startingAt: 0) + value)
        }
    }
}
