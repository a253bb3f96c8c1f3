import ArgumentParser

@main
struct VQTok: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vqtok",
        abstract: "Image tokenizers of the VQGAN family: image to token ids and back, over HTTP/2.",
        subcommands: [ServeCommand.self, EncodeCommand.self, DecodeCommand.self, InspectCommand.self,
                      BenchCommand.self],
        defaultSubcommand: ServeCommand.self
    )

    static func main() async {
        // Before any BLAS work: may re-execute the process with the fast kernels selected.
        OpenBLASKernels.ensureFastKernels()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
