import Foundation
import Tensor

/// Upstream `torch.save` checkpoints (`.pth`, `.pt`, `.ckpt`; the zip format, PyTorch ≥ 1.6), read
/// without Python and without running anything: a ZIP reader, a restricted unpickler that builds
/// data only, and storages copied out of the memory-mapped archive with offset and strides honoured.
public enum PyTorchCheckpoint {
    /// Top-level keys tried in order for the state dict, as the upstream loaders do.
    public static let stateDictKeys = ["ema", "model", "state_dict", "model_state_dict"]

    /// The checkpoint's state dict: the value of the first of `stateDictKeys` that holds a dict,
    /// else the top-level dict itself if it maps names to tensors. A bare tensor at the top level
    /// (VQGAN-LC's codebook file) is returned under `bareTensorName` when one is given.
    /// Entries that are not tensors (nested dicts, numbers) are skipped.
    public static func load(contentsOf url: URL, bareTensorName: String? = nil) throws(CheckpointError) -> TensorSet {
        let file = try MappedFile(url)
        return try file.withBytes { (bytes) throws(CheckpointError) -> TensorSet in
            try parse(bytes, bareTensorName: bareTensorName)
        }
    }

    /// A file whose top-level object is one tensor (e.g. VQGAN-LC `codebook-100K.pth`), as f32.
    public static func loadTensor(contentsOf url: URL) throws(CheckpointError) -> Tensor {
        let set = try load(contentsOf: url, bareTensorName: "tensor")
        guard set.names == ["tensor"], set.integers.isEmpty, let tensor = set["tensor"] else {
            throw .unsupported("\(url.lastPathComponent) holds a state dict, not a single float tensor")
        }
        return tensor
    }

    static func parse(_ bytes: UnsafeRawBufferPointer, bareTensorName: String?) throws(CheckpointError) -> TensorSet {
        guard bytes.count >= 4, bytes.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: 0x0403_4B50) else {
            if bytes.count >= 2, bytes[0] == 0x80 {
                throw .unsupported("legacy (pre-1.6) torch.save format; re-save it with a recent torch or convert it to safetensors")
            }
            throw .malformed("not a torch.save zip archive (no PK signature)")
        }
        let archive = try ZipArchive(bytes)
        guard let first = archive.entries.first, let slash = first.name.firstIndex(of: "/") else {
            throw .malformed("archive entries are not under a top-level folder")
        }
        let prefix = String(first.name[...slash])
        if let order = archive[prefix + "byteorder"] {
            let text = String(decoding: try entryBytes(order, archive: archive, in: bytes), as: UTF8.self)
            guard text == "little" else { throw .unsupported("byte order '\(text.prefix(16))'; only little-endian checkpoints are read") }
        }
        guard let pickleEntry = archive[prefix + "data.pkl"] else {
            throw .malformed("archive has no \(prefix)data.pkl")
        }
        var unpickler = Unpickler(try entryBytes(pickleEntry, archive: archive, in: bytes))
        let top = try unpickler.load()
        var materializer = TensorMaterializer(bytes: bytes, archive: archive, prefix: prefix)
        let arena = unpickler.arena

        if case .node(let i) = top, case .tensor(let view) = arena[i] {
            guard let bareTensorName else {
                throw .unsupported("the checkpoint is a single tensor \(view.shape), not a state dict; load it with PyTorchCheckpoint.loadTensor")
            }
            var set = TensorSet()
            try materializer.add(view, as: bareTensorName, to: &set)
            return set
        }
        guard case .node(let t) = top, case .dict(let topDict) = arena[t] else {
            throw .unsupported("top-level object is \(top.describe(in: arena)), not a dict of tensors")
        }
        let stateDict = try selectStateDict(topDict, arena: arena)
        var set = TensorSet()
        for (key, value) in zip(stateDict.keys, stateDict.values) {
            guard case .string(let name) = key, case .node(let n) = value else { continue }
            switch arena[n] {
            case .tensor(let view):
                try materializer.add(view, as: name, to: &set)
            case .object(let type) where type.hasPrefix("torch.") && type.contains("_rebuild"):
                // A quantized, sparse, meta or subclass tensor: fail by name rather than drop it.
                throw .unsupported("tensor '\(name)' is stored as \(type), which vqtok does not read")
            default:
                continue   // not a tensor (e.g. _extra_state); the tokenizer ignores unknown names
            }
        }
        return set
    }

    private static func selectStateDict(_ top: PickleDict, arena: [PickleNode]) throws(CheckpointError) -> PickleDict {
        for key in stateDictKeys {
            if case .node(let i)? = top[key], case .dict(let dict) = arena[i] { return dict }
        }
        let isStateDict = top.count > 0 && zip(top.keys, top.values).allSatisfy { key, value in
            guard case .string = key, case .node(let i) = value, case .tensor = arena[i] else { return false }
            return true
        }
        guard isStateDict else {
            let keys = top.keys.prefix(20).map { $0.describe(in: arena) }.joined(separator: ", ")
            throw .unsupported("no state dict: none of the top-level keys \(stateDictKeys) holds a dict, and the top-level dict (keys: \(keys)) does not map names to tensors")
        }
        return top
    }

    private static func entryBytes(_ entry: ZipArchive.Entry, archive: ZipArchive,
                                   in bytes: UnsafeRawBufferPointer) throws(CheckpointError) -> UnsafeRawBufferPointer {
        guard entry.method == 0 else {
            throw .unsupported("archive entry '\(entry.name)' is compressed (method \(entry.method)); torch.save stores entries uncompressed")
        }
        return UnsafeRawBufferPointer(rebasing: bytes[entry.data])
    }

    /// Copies tensor views out of their storages, checking every view against its storage and
    /// bounding the total number of elements produced (shared storages cannot multiply memory
    /// without limit).
    struct TensorMaterializer {
        let bytes: UnsafeRawBufferPointer
        let archive: ZipArchive
        let prefix: String
        var budget: Int

        init(bytes: UnsafeRawBufferPointer, archive: ZipArchive, prefix: String) {
            self.bytes = bytes
            self.archive = archive
            self.prefix = prefix
            budget = max(bytes.count, 1 << 20)
        }

        mutating func add(_ view: TensorView, as name: String, to set: inout TensorSet) throws(CheckpointError) {
            let storage = view.storage
            guard let entry = archive[prefix + "data/" + storage.key] else {
                throw .malformed("tensor '\(name)': storage data/\(storage.key) is missing from the archive")
            }
            let data = try PyTorchCheckpoint.entryBytes(entry, archive: archive, in: bytes)
            guard let storageBytes = Checked.multiply(storage.count, storage.dtype.size), storageBytes <= data.count else {
                throw .malformed("tensor '\(name)': storage data/\(storage.key) declares \(storage.count) \(storage.dtype.rawValue) elements but holds \(data.count) bytes")
            }
            guard let count = Checked.elementCount(view.shape) else {
                throw .malformed("tensor '\(name)': size \(view.shape) overflows")
            }
            if count > 0 {
                // Highest element index the view touches: offset + Σ (size_i − 1) × stride_i.
                var last: Int? = view.offset
                for (size, stride) in zip(view.shape, view.strides) {
                    last = last.flatMap { Checked.add($0, Checked.multiply(size - 1, stride) ?? Int.max) }
                }
                guard let last, last < storage.count else {
                    throw .malformed("tensor '\(name)': view (offset \(view.offset), size \(view.shape), stride \(view.strides)) reaches past its storage of \(storage.count) elements")
                }
            }
            guard count <= budget else {
                throw .unsupported("tensor '\(name)': \(count) elements exceed what the \(bytes.count)-byte file can hold (expanded or repeatedly shared views)")
            }
            budget -= count
            guard let base = data.baseAddress ?? (count == 0 ? UnsafeRawPointer(bitPattern: 1) : nil) else {
                throw .malformed("tensor '\(name)': empty storage")
            }
            if storage.dtype.isFloatingPoint {
                var finite = true
                let values = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
                    if let out = buffer.baseAddress {
                        finite = Self.gather(view, count: count) { start, stride, n, at in
                            ElementConversion.readFloats(base, dtype: storage.dtype, start: start, stride: stride,
                                                         count: n, into: out + at)
                        }
                    }
                    initialized = count
                }
                guard finite else { throw .nonFinite(name) }
                set[name] = Tensor(shape: view.shape, storage: values)
            } else {
                var fits = true
                let values = [Int64](unsafeUninitializedCapacity: count) { buffer, initialized in
                    if let out = buffer.baseAddress {
                        fits = Self.gather(view, count: count) { start, stride, n, at in
                            ElementConversion.readIntegers(base, dtype: storage.dtype, start: start, stride: stride,
                                                           count: n, into: out + at)
                        }
                    }
                    initialized = count
                }
                guard fits else { throw .unsupported("tensor '\(name)': value does not fit in Int64") }
                set.setInteger(name, IntTensor(shape: view.shape, values: values))
            }
        }

        /// Walks the view row by row (rows along the last dimension), calling
        /// `row(startElement, stride, length, outputIndex)`; false from any row is returned.
        static func gather(_ view: TensorView, count: Int, _ row: (Int, Int, Int, Int) -> Bool) -> Bool {
            guard count > 0 else { return true }
            guard let rowLength = view.shape.last, let rowStride = view.strides.last else {
                return row(view.offset, 1, 1, 0)   // a scalar
            }
            // Contiguous views are one row.
            var expected = 1
            var contiguous = true
            for (size, stride) in zip(view.shape, view.strides).reversed() {
                if size != 1 && stride != expected { contiguous = false; break }
                expected *= size
            }
            if contiguous { return row(view.offset, 1, count, 0) }
            let outer = Array(view.shape.dropLast())
            var index = [Int](repeating: 0, count: outer.count)
            var ok = true
            var at = 0
            while at < count {
                var start = view.offset
                for d in 0..<outer.count { start += index[d] * view.strides[d] }
                ok = row(start, rowStride, rowLength, at) && ok
                at += rowLength
                var d = outer.count - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < outer[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
            return ok
        }
    }
}
