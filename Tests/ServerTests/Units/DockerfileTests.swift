import Foundation
import Testing

/// The Dockerfile cannot be built here (no Docker engine); these checks keep it consistent with
/// the scripts and the server.
@Suite struct DockerfileTests {
    /// The packages of each `apt-get install` in the Dockerfile, per stage (in order).
    static func stagePackages() throws -> [[String]] {
        let text = try RepositoryFiles.text("Dockerfile").replacingOccurrences(of: "\\\n", with: " ")
        var stages: [[String]] = []
        for line in text.components(separatedBy: "\n") {
            if line.hasPrefix("FROM ") { stages.append([]) }
            guard let install = line.range(of: "apt-get install") else { continue }
            let rest = line[install.upperBound...].components(separatedBy: "&&")[0]
            stages[stages.count - 1] += rest.split(separator: " ").map(String.init).filter { !$0.hasPrefix("-") }
        }
        return stages
    }

    static func installDepsPackages() throws -> Set<String> {
        let script = try RepositoryFiles.text("Scripts/install-deps.sh")
        let start = try #require(script.range(of: "packages=("))
        let end = try #require(script[start.upperBound...].firstIndex(of: ")"))
        return Set(script[start.upperBound..<end].split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    static let runtimeLibraries = ["libopenblas0-pthread", "libpng16-16", "libjpeg62-turbo", "libnghttp2-14"]

    @Test func buildsOnTheSwiftImageAndRunsOnSlimDebian() throws {
        let text = try RepositoryFiles.text("Dockerfile")
        let froms = text.components(separatedBy: "\n").filter { $0.hasPrefix("FROM ") }
        #expect(froms.count == 2)
        #expect(froms.first?.hasPrefix("FROM swift:6.") == true && froms.first?.contains("-bookworm") == true)
        #expect(froms.last == "FROM debian:bookworm-slim")
        #expect(text.contains("COPY Models ./Models"))
        #expect(text.contains("CMD [\"vqtok\", \"serve\"]"))
        #expect(text.contains("HEALTHCHECK") && text.contains("GET /healthz"))
    }

    @Test func packageListsMatchInstallDeps() throws {
        let stages = try Self.stagePackages()
        try #require(stages.count == 2)
        let scripts = try Self.installDepsPackages()
        #expect(Set(stages[0]).isSubset(of: scripts), "build packages \(stages[0]) come from Scripts/install-deps.sh")
        let libraries = scripts.filter { $0.hasPrefix("lib") && $0.hasSuffix("-dev") }
        #expect(Set(stages[0]).isSuperset(of: libraries), "every library install-deps.sh builds with")
        #expect(stages[1] == Self.runtimeLibraries, "the runtime image has the four runtime libraries")
    }

    /// Each runtime package is what one of install-deps.sh's -dev packages brings (read from dpkg,
    /// which has them: the tests run after Scripts/install-deps.sh).
    @Test func runtimeLibrariesAreThoseTheDevPackagesBring() async throws {
        let dev = try Self.installDepsPackages().filter { $0.hasSuffix("-dev") }
        var reachable: Set<String> = []
        var frontier = Array(dev)
        for _ in 0..<3 {
            var next: [String] = []
            for package in frontier {
                let result = try await ProcessRunner.run("dpkg-query", ["-W", "-f=${Depends}", package])
                let names = result.stdoutText.split(whereSeparator: { ",|".contains($0) })
                    .compactMap { $0.split(separator: " ").first.map(String.init) }
                    .map { $0.split(separator: ":").first.map(String.init) ?? $0 }
                next += names.filter { reachable.insert($0).inserted }
            }
            frontier = next
        }
        for library in Self.runtimeLibraries {
            #expect(reachable.contains(library), "\(library) comes with the -dev packages")
        }
    }
}
