#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// A read-only, memory-mapped file. The mapping lives as long as the object; the bytes are
/// handed out only inside `withBytes`, so no pointer escapes the reader that uses them.
final class MappedFile {
    private let base: UnsafeMutableRawPointer?
    let count: Int

    init(_ url: URL) throws(CheckpointError) {
        let path = url.path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw .io("\(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw .io("\(path): \(String(cString: strerror(errno)))")
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw .io("\(path): not a regular file")
        }
        guard let size = Int(exactly: info.st_size), size >= 0 else {
            throw .io("\(path): size \(info.st_size) is out of range")
        }
        count = size
        if size == 0 {
            base = nil
            return
        }
        let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let mapped, mapped != MAP_FAILED else {
            throw .io("\(path): mmap failed: \(String(cString: strerror(errno)))")
        }
        base = mapped
    }

    deinit {
        if let base { munmap(base, count) }
    }

    /// Drops the pages wholly inside `range` (byte offsets) from this process's resident set
    /// (`madvise(MADV_DONTNEED)`): the mapping is private and never written, so they are only
    /// dropped, and a later read faults them in again from the page cache.
    func release(_ range: Range<Int>) {
        guard let base, !range.isEmpty else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let first = (range.lowerBound + page - 1) / page * page
        let last = range.upperBound / page * page
        if last > first { _ = madvise(base + first, last - first, Int32(MADV_DONTNEED)) }
    }

    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(start: base.map { UnsafeRawPointer($0) }, count: count))
    }
}
