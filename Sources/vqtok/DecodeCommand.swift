import ArgumentParser
import Foundation
import Imaging
import Server
import Tokenizer

/// `vqtok decode --model DIR IDS -o out.png`: render token grids back to images.
struct DecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Render token ids (.npy or JSON) back to PNG or JPEG.")

    @Option(name: .long, help: "A model directory.")
    var model: String

    @Option(name: [.short, .long], help: "Output image, .png or .jpg; a batch writes NAME-0.png, NAME-1.png, ...")
    var output: String

    @Option(name: .long, help: "JPEG quality, 1 to 100.")
    var quality: Int = 90

    @Argument(help: "Ids as .npy or JSON (the format `vqtok encode` writes).")
    var ids: String

    func validate() throws {
        guard (1...100).contains(quality) else { throw ValidationError("--quality must be 1 to 100") }
        guard outputFormat != nil else { throw ValidationError("the output must end in .png, .jpg or .jpeg") }
    }

    var outputFormat: ImageFormat? {
        switch URL(fileURLWithPath: output).pathExtension.lowercased() {
        case "png": .png
        case "jpg", "jpeg": .jpeg
        default: nil
        }
    }

    func run() throws {
        let loaded = try LoadedModel.load(from: URL(fileURLWithPath: model))
        let engine = loaded.engine
        let spec = IdsSpec(codebookSize: engine.codebookSize, groups: engine.config.quantizer.groups,
                           maxPositions: 1 << 20, maxGrids: 1024)
        let grids: [IdGrid]
        do { grids = try IdsFile.read(readFile(ids), spec: spec) } catch let error as ServiceError {
            throw ValidationError("\(ids): \(error.message)")
        }
        let paths = outputPaths(count: grids.count)
        for (grid, path) in zip(grids, paths) {
            let tokens = TokenGrid(batchOf: [grid])
            let image = ImageTensor.toImages(try engine.decode(tokens, stages: StageClock()))[0]
            let bytes = try ImageCodec.encode(image, as: outputFormat!, quality: quality)
            try writeFile(bytes, to: path)
        }
    }

    private func outputPaths(count: Int) -> [String] {
        guard count > 1 else { return [output] }
        let url = URL(fileURLWithPath: output)
        let stem = url.deletingPathExtension().path
        return (0..<count).map { "\(stem)-\($0).\(url.pathExtension)" }
    }
}
