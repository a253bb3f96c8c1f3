import Foundation

/// What a finished (or killed) client process left.
struct ProcessResult: Sendable {
    var status: Int32
    var stdout: Data
    var stderr: String
    var timedOut: Bool
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
}

/// Runs a real client (curl, nghttp, h2load, python) with a hard time limit. The blocking
/// waits happen on Dispatch threads, never on the Swift concurrency pool (which the server's
/// handlers need).
func run(_ executable: String, _ arguments: [String], timeout: Duration = .seconds(30)) async throws -> ProcessResult {
    let p = Process()
    if executable.contains("/") {
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
    } else {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [executable] + arguments
    }
    let out = Pipe()
    let err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let pid = p.processIdentifier
    let killed = LockedFlag()
    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int(timeout.components.seconds * 1000))) {
        if p.isRunning { killed.set(); kill(pid, SIGKILL) }
    }
    return await withCheckedContinuation { k in
        let group = DispatchGroup()
        let outBox = DataBox(), errBox = DataBox()
        DispatchQueue.global().async(group: group) { outBox.data = out.fileHandleForReading.readDataToEndOfFile() }
        DispatchQueue.global().async(group: group) { errBox.data = err.fileHandleForReading.readDataToEndOfFile() }
        group.notify(queue: .global()) {
            p.waitUntilExit()
            k.resume(returning: ProcessResult(status: p.terminationStatus, stdout: outBox.data,
                                              stderr: String(decoding: errBox.data, as: UTF8.self),
                                              timedOut: killed.isSet))
        }
    }
}

/// @unchecked Sendable: written by one Dispatch block, read after the group completes.
private final class DataBox: @unchecked Sendable { var data = Data() }

/// @unchecked Sendable: guarded by its lock.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
