import ArgumentParser
import Foundation
import Imaging
import Server
import Tensor

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

    @Option(help: "crop: the model's own preprocessing (default); whole: the whole image resized to the model resolution, aspect ratio not kept; none: the image's own size, center-cropped to multiples of the downsample factor (the grid follows the image).")
    var resize: ResizeMode = .crop

    @Argument(help: "PNG or JPEG files; several give one grid each, in order.")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("name at least one image") }
        if format == .npy && output == nil { throw ValidationError("--format npy needs -o FILE") }
    }

    func run() throws {
        let loaded = try LoadedModel.load(from: URL(fileURLWithPath: model))
        // The service's preprocessing (its resize= options), with limits meant for local files
        // (2^28 pixels decoded, 2^26 tokenized at their own size) rather than for requests.
        let input = ImageInput(maxImagePixels: 1 << 28, maxNativePixels: 1 << 26, maxItems: images.count)
        let tensors = try images.map { path in
            do {
                return try input.preprocess(ImageCodec.decode(readFile(path)), mode: resize,
                                            config: loaded.engine.config, label: path)
            } catch let error as ServiceError {
                throw ValidationError(error.message)
            }
        }
        // Images of one size share a batch; the grids keep the images' order.
        var encoded = [IdGrid?](repeating: nil, count: tensors.count)
        for index in tensors.indices where encoded[index] == nil {
            let shape = tensors[index].shape
            let members = tensors.indices.filter { tensors[$0].shape == shape }
            let batch = Tensor(shape: [members.count] + shape.dropFirst(), storage: members.flatMap { tensors[$0].storage })
            for (member, grid) in zip(members, loaded.engine.encode(batch, stages: StageClock()).idGrids) {
                encoded[member] = grid
            }
        }
        let grids = encoded.compactMap { $0 }
        if format == .npy, grids.contains(where: { $0.shape != grids[0].shape }) {
            throw ValidationError("the grids have different shapes (images of different sizes with --resize none); "
                + "one .npy array cannot hold them: use --format json")
        }
        let bytes = IdsFile.write(grids, model: loaded.name, codebookSize: loaded.engine.codebookSize,
                                  format: format, batched: grids.count > 1)
        try writeOutput(bytes, to: output)
    }
}

extension IdsFile.Format: ExpressibleByArgument {}
extension ResizeMode: ExpressibleByArgument {}

func readFile(_ path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        let reason = FileManager.default.fileExists(atPath: path) ? "not a readable file" : "no such file"
        throw ValidationError("cannot read \(path): \(reason)")
    }
    return [UInt8](data)
}

/// Writes `bytes` to `path`, or fails with a message that names the file and why.
func writeFile(_ bytes: [UInt8], to path: String) throws {
    guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isFolder: ObjCBool = false
        let folderExists = FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder) && isFolder.boolValue
        throw ValidationError("cannot write \(path): " + (folderExists ? "not writable" : "no folder \(folder)"))
    }
}

func writeOutput(_ bytes: [UInt8], to path: String?) throws {
    if let path {
        try writeFile(bytes, to: path)
    } else {
        FileHandle.standardOutput.write(Data(bytes))
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}
