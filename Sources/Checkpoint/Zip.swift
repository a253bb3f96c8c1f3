/// A minimal ZIP reader for torch.save archives: central directory (with ZIP64), stored
/// (uncompressed) entries only, no encryption. Every offset and size read from the file is checked
/// against the file before use; entry data is handed out as ranges into the caller's bytes.
struct ZipArchive {
    struct Entry {
        let name: String
        /// Compression method; only 0 (stored) can be read.
        let method: UInt16
        /// Where the entry's bytes are in the file (stored entries: the data itself).
        let data: Range<Int>
    }

    /// Entries in central-directory order.
    let entries: [Entry]
    private let index: [String: Int]

    subscript(name: String) -> Entry? { index[name].map { entries[$0] } }

    init(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) {
        var reader = ByteReader(bytes)
        let eocd = try Self.findEndOfCentralDirectory(bytes)
        reader.position = eocd
        try reader.skip(4)
        let disk = try reader.u16(), cdDisk = try reader.u16()
        var count = UInt64(try reader.u16())
        let total = UInt64(try reader.u16())
        var cdSize = UInt64(try reader.u32())
        var cdOffset = UInt64(try reader.u32())
        guard disk == 0, cdDisk == 0, count == total else { throw .unsupported("multi-disk ZIP archive") }

        // ZIP64: a locator right before the end record points at the ZIP64 end record.
        if eocd >= 20, Self.u32(bytes, eocd - 20) == 0x0706_4B50 {
            reader.position = eocd - 20 + 8
            let recordOffset = try reader.offset("ZIP64 end record offset")
            reader.position = recordOffset
            guard try reader.u32() == 0x0606_4B50 else { throw .malformed("ZIP64 end record signature missing") }
            try reader.skip(8 + 2 + 2 + 4 + 4)
            count = try reader.u64()
            guard try reader.u64() == count else { throw .unsupported("multi-disk ZIP archive") }
            cdSize = try reader.u64()
            cdOffset = try reader.u64()
        }
        guard cdOffset <= UInt64(bytes.count), cdSize <= UInt64(bytes.count) - cdOffset else {
            throw .malformed("ZIP central directory [\(cdOffset), +\(cdSize)) lies outside the \(bytes.count)-byte file")
        }
        guard count <= cdSize / 46 else {
            throw .malformed("ZIP declares \(count) entries, more than its \(cdSize)-byte central directory can hold")
        }
        var entries: [Entry] = []
        var index: [String: Int] = [:]
        entries.reserveCapacity(Int(count))
        reader.position = Int(cdOffset)
        let end = Int(cdOffset + cdSize)
        for _ in 0..<count {
            let entry = try Self.readCentralEntry(&reader, bytes: bytes, end: end)
            guard index[entry.name] == nil else { throw .malformed("ZIP entry '\(entry.name)' appears twice") }
            index[entry.name] = entries.count
            entries.append(entry)
        }
        self.entries = entries
        self.index = index
    }

    private static func u32(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt32.self))
    }

    /// The end-of-central-directory record: within the last 22 + 65535 bytes, scanning backwards.
    private static func findEndOfCentralDirectory(_ bytes: UnsafeRawBufferPointer) throws(CheckpointError) -> Int {
        guard bytes.count >= 22 else { throw .malformed("file is too short to be a ZIP archive") }
        let lowest = max(0, bytes.count - 22 - 0xFFFF)
        var at = bytes.count - 22
        while at >= lowest {
            if u32(bytes, at) == 0x0605_4B50 { return at }
            at -= 1
        }
        throw .malformed("ZIP end-of-central-directory record not found")
    }

    private static func readCentralEntry(_ reader: inout ByteReader, bytes: UnsafeRawBufferPointer,
                                         end: Int) throws(CheckpointError) -> Entry {
        guard reader.position <= end - 46, try reader.u32() == 0x0201_4B50 else {
            throw .malformed("ZIP central directory entry at \(reader.position) is damaged")
        }
        try reader.skip(4)
        let flags = try reader.u16()
        let method = try reader.u16()
        try reader.skip(8)
        var compressedSize = UInt64(try reader.u32())
        var size = UInt64(try reader.u32())
        let nameLength = Int(try reader.u16()), extraLength = Int(try reader.u16())
        let commentLength = Int(try reader.u16())
        let diskStart = try reader.u16()
        try reader.skip(6)
        var localOffset = UInt64(try reader.u32())
        let nameBytes = try reader.bytes(nameLength)
        guard let name = String(validating: nameBytes, as: UTF8.self) else {
            throw .malformed("ZIP entry name at \(reader.position - nameLength) is not UTF-8")
        }
        var extra = ByteReader(try reader.slice(extraLength))
        try reader.skip(commentLength)
        guard reader.position <= end else { throw .malformed("ZIP entry '\(name)' runs past the central directory") }
        // ZIP64 extended information: the 64-bit values of the fields saturated above, in order.
        while extra.remaining >= 4 {
            let id = try extra.u16(), length = Int(try extra.u16())
            var field = ByteReader(try extra.slice(length))
            guard id == 0x0001 else { continue }
            if size == 0xFFFF_FFFF { size = try field.u64() }
            if compressedSize == 0xFFFF_FFFF { compressedSize = try field.u64() }
            if localOffset == 0xFFFF_FFFF { localOffset = try field.u64() }
        }
        guard diskStart == 0 || diskStart == 0xFFFF else { throw .unsupported("multi-disk ZIP archive") }
        guard flags & 1 == 0 else { throw .unsupported("ZIP entry '\(name)' is encrypted") }
        guard method != 0 || compressedSize == size else {
            throw .malformed("ZIP entry '\(name)' is stored but its sizes differ (\(compressedSize) vs \(size))")
        }
        // The data follows the local header, whose name and extra lengths may differ from the central ones.
        var local = ByteReader(bytes)
        guard localOffset <= UInt64(bytes.count) else {
            throw .malformed("ZIP entry '\(name)' local header offset \(localOffset) is past the end of the file")
        }
        local.position = Int(localOffset)
        guard try local.u32() == 0x0403_4B50 else { throw .malformed("ZIP entry '\(name)' local header signature missing") }
        try local.skip(22)
        let localName = Int(try local.u16()), localExtra = Int(try local.u16())
        try local.skip(localName + localExtra)
        guard compressedSize <= UInt64(local.remaining) else {
            throw .malformed("ZIP entry '\(name)' data (\(compressedSize) bytes at \(local.position)) runs past the end of the file")
        }
        return Entry(name: name, method: method, data: local.position..<(local.position + Int(compressedSize)))
    }
}

/// Little-endian reads over a byte buffer; every read is bounds-checked.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }

    private func need(_ n: Int) throws(CheckpointError) {
        guard n >= 0, position >= 0, position <= bytes.count, n <= bytes.count - position else {
            throw .malformed("unexpected end of data reading \(n) bytes at offset \(position)")
        }
    }

    mutating func skip(_ n: Int) throws(CheckpointError) {
        try need(n)
        position += n
    }

    mutating func u8() throws(CheckpointError) -> UInt8 {
        try need(1)
        defer { position += 1 }
        return bytes[position]
    }

    mutating func u16() throws(CheckpointError) -> UInt16 {
        try need(2)
        defer { position += 2 }
        return UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt16.self))
    }

    mutating func u32() throws(CheckpointError) -> UInt32 {
        try need(4)
        defer { position += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
    }

    mutating func u64() throws(CheckpointError) -> UInt64 {
        try need(8)
        defer { position += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt64.self))
    }

    /// A u64 that must be an offset inside the buffer.
    mutating func offset(_ what: String) throws(CheckpointError) -> Int {
        let v = try u64()
        guard v <= UInt64(bytes.count) else { throw .malformed("\(what) \(v) is past the end of the file") }
        return Int(v)
    }

    mutating func slice(_ n: Int) throws(CheckpointError) -> UnsafeRawBufferPointer {
        try need(n)
        defer { position += n }
        return UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
    }

    mutating func bytes(_ n: Int) throws(CheckpointError) -> [UInt8] {
        [UInt8](try slice(n))
    }
}
