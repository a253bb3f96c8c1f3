import Foundation

/// OpenBLAS does not recognise these CPUs and falls back to its generic SSE3 kernels, 4-6x
/// slower for sgemm, unless `OPENBLAS_CORETYPE` names a core. The variable is read when the
/// library loads, before `main` runs, so setting it in-process is too late: we set it and
/// re-execute ourselves once. A user who sets it keeps their choice.
enum OpenBLASKernels {
    static let variable = "OPENBLAS_CORETYPE"

    /// Re-executes the process with `OPENBLAS_CORETYPE` set when it is unset and this CPU has
    /// a better core than OpenBLAS's fallback. Returns only if no re-exec was needed or it failed.
    static func ensureFastKernels() {
        guard ProcessInfo.processInfo.environment[variable] == nil,
              let core = preferredCore(cpuFlags: cpuFlags()) else { return }
        setenv(variable, core, 1)
        // On success execv does not return; on failure we run on, with the slow kernels.
        execv("/proc/self/exe", CommandLine.unsafeArgv)
    }

    /// SkylakeX where AVX-512F exists, Haswell where AVX2 does, else leave OpenBLAS alone.
    static func preferredCore(cpuFlags: Set<Substring>) -> String? {
        if cpuFlags.contains("avx512f") { return "SkylakeX" }
        if cpuFlags.contains("avx2") { return "Haswell" }
        return nil
    }

    static func cpuFlags() -> Set<Substring> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }
}
