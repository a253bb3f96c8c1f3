import Foundation
import Imaging
import Testing
@testable import Server
@testable import Tokenizer

extension Integration {
    /// Real photos through the server with httpx over HTTP/2, against the same work done in process.
    @Suite struct RoundTripTests {
        @Test func encodeDecodeThroughTheServerEqualsInProcessBitForBit() async throws {
            let live = try await SharedServers.fixture.value
            let tokenizer = try #require(try Fixtures.model().engine as? VQTokenizer)
            do {
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqtok-rt-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: dir) }
                for name in Fixtures.photos { try Data(try Fixtures.photo(name)).write(to: dir.appendingPathComponent("\(name).png")) }
                let script = """
                import io, os, httpx, numpy as np
                names = \(Fixtures.photos)
                with httpx.Client(base_url=os.environ["VQTOK_URL"], http1=False, http2=True, timeout=300) as c:
                    for name in names:
                        r = c.post("/v1/models/\(Fixtures.modelName)/encode", content=open(name + ".png", "rb").read(),
                                   headers={"content-type": "image/png", "accept": "application/x-npy"})
                        assert r.status_code == 200 and r.http_version == "HTTP/2", (r.status_code, r.http_version, r.text)
                        ids = np.load(io.BytesIO(r.content))
                        np.save(name + ".ids.npy", ids)
                        buf = io.BytesIO(); np.save(buf, ids)
                        d = c.post("/v1/models/\(Fixtures.modelName)/decode", content=buf.getvalue(),
                                   headers={"content-type": "application/x-npy"})
                        assert d.status_code == 200, d.text
                        open(name + ".recon.png", "wb").write(d.content)
                print("ok")
                """
                let result = try await Python.run(script, baseURL: live.url, directory: dir)
                #expect(result.status == 0, "\(result.stderrText)")
                let input = ImageInput(maxImagePixels: 1 << 24, maxNativePixels: 1 << 20, maxItems: 4)
                for name in Fixtures.photos {
                    let image = try ImageCodec.decode(try Fixtures.photo(name))
                    let grid = tokenizer.encode(try input.preprocess(image, mode: .crop, config: tokenizer.config, label: name))
                    let served = try NPY.decode(Array(try Data(contentsOf: dir.appendingPathComponent("\(name).ids.npy"))))
                    #expect(served.shape == [16, 16])
                    #expect(served.values == grid.ids.map(Int64.init), "\(name): ids")
                    let decoded = try tokenizer.decode(grid)
                    let png = try ImageCodec.encodePNG(ImageTensor.toImages(decoded)[0])
                    let servedPNG = Array(try Data(contentsOf: dir.appendingPathComponent("\(name).recon.png")))
                    #expect(servedPNG == png, "\(name): reconstruction")
                }
            }
        }

        @Test func concurrentRequestsAreBatchedAndEachGetsItsOwnAnswer() async throws {
            // The small synthesized model: this is about batching, not about the network.
            let tokenizer = try TinyModels.tokenizer(TinyModels.config())
            let loaded = LoadedModel(name: "tiny", engine: tokenizer)
            // A short wait lets a batch fill while the requests arrive; without it, batching happens
            // only while a batch runs, which on an idle machine can be too short to count on.
            let configuration = ServiceConfiguration(batching: BatchPolicy(maxBatchItems: 16, maxWait: .milliseconds(50)))
            try await withLiveServer(models: [loaded], configuration: configuration) { live in
                let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vqtok-cc-\(UUID().uuidString)")
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(at: dir) }
                let input = ImageInput(maxImagePixels: 1 << 24, maxNativePixels: 1 << 20, maxItems: 4)
                var expected: [[Int64]] = []
                for n in 0..<32 {
                    let image = TestImages.rgb(width: 16, height: 16, seed: n)
                    try Data(try ImageCodec.encodePNG(image)).write(to: dir.appendingPathComponent("\(n).png"))
                    let grid = tokenizer.encode(try input.preprocess(image, mode: .none, config: tokenizer.config, label: "\(n)"))
                    expected.append(grid.ids.map(Int64.init))
                }
                #expect(Set(expected).count > 16, "the images give different ids")
                let script = """
                import asyncio, io, os, httpx, numpy as np
                async def main():
                    async with httpx.AsyncClient(base_url=os.environ["VQTOK_URL"], http1=False, http2=True, timeout=300) as c:
                        async def one(n):
                            r = await c.post("/v1/models/tiny/encode?resize=none",
                                             content=open(f"{n}.png", "rb").read(),
                                             headers={"content-type": "image/png", "accept": "application/x-npy"})
                            assert r.status_code == 200 and r.http_version == "HTTP/2", r.text
                            np.save(f"{n}.ids.npy", np.load(io.BytesIO(r.content)))
                        await asyncio.gather(*(one(n) for n in range(32)))
                asyncio.run(main())
                """
                let result = try await Python.run(script, baseURL: live.url, directory: dir)
                #expect(result.status == 0, "\(result.stderrText)")
                for n in 0..<32 {
                    let served = try NPY.decode(Array(try Data(contentsOf: dir.appendingPathComponent("\(n).ids.npy"))))
                    #expect(served.shape == [4, 4] && served.values == expected[n], "request \(n) got its own ids")
                }
                let metrics = try await live.metrics()
                let count = metrics.value("vqtok_batch_size_count", ["model": "tiny"]) ?? 0
                let ones = metrics.value("vqtok_batch_size_bucket", ["model": "tiny", "le": "1.0"]) ?? 0
                let sum = metrics.value("vqtok_batch_size_sum", ["model": "tiny"]) ?? 0
                #expect(ones < count, "some batch held more than one image (\(ones) of \(count) batches held one)")
                #expect(sum == 34, "32 images plus the warm-up's encode and decode")
            }
        }
    }
}
