import ArgumentParser
import Foundation
import Imaging
import Server

/// `vqtok encode --model DIR IMAGE...`: token grids of images, in order, as JSON or .npy.
struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Tokenize images: print their token grids as JSON, or write .npy.")

    @Option(name: .long, help: "A model directory.")
    var model: String

    @Option(name: .long, help: "json or npy.")
    var format: IdsFile.Format = .json

    @Option(name: [.short, .long], help: "Write here instead of standard output.")
    var output: String?

    @Argument(help: "PNG or JPEG files; several give one grid each, in order.")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
        if format == .npy && output == nil { throw ValidationError("--format npy needs -o FILE") }
    }

    func run() throws {
        let loaded = try LoadedModel.load(from: URL(fileURLWithPath: model))
        let preprocessing = loaded.engine.config.preprocessing
        let inputs = try images.map { path in
            // The model's own preprocessing, as the service's resize=crop.
            try ImageCodec.decode(readFile(path)).modelCenterCrop(preprocessing)
        }
        // One batch: the images share the model's input size after preprocessing.
        let grid = loaded.engine.encode(ImageTensor.fromImages(inputs), stages: StageClock())
        let grids = grid.idGrids
        let bytes = IdsFile.write(grids, model: loaded.name, codebookSize: loaded.engine.codebookSize,
                                  format: format, batched: grids.count > 1)
        try writeOutput(bytes, to: output)
    }
}

extension IdsFile.Format: ExpressibleByArgument {}

func readFile(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read \(path)")
    }
    return [UInt8](data)
}

func writeOutput(_ bytes: [UInt8], to path: String?) throws {
    if let path {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    } else {
        FileHandle.standardOutput.write(Data(bytes))
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
