import Foundation

/// Upstream `torch.save` checkpoints (zip + pickle), read without running anything.
public enum PyTorchCheckpoint {
    public static func load(contentsOf url: URL) throws(CheckpointError) -> TensorSet {
        throw .unsupported("\(url.lastPathComponent): PyTorch checkpoints are not supported yet; convert to model.safetensors")
    }
}
