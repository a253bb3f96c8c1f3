import Foundation

/// The CPU's feature flags as Linux lists them in /proc/cpuinfo ("flags : fpu ... avx2 fma ...").
/// Linux lists AVX flags only when it saves the AVX registers on a context switch, so a listed
/// flag is one the process can use. Empty where there is no /proc/cpuinfo.
enum CPUFlags {
    static let current: Set<Substring> = {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":") else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }()
}
