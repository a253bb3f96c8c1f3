import Testing
@testable import Tensor
import TestSupport

struct WinogradCase: Sendable, CustomTestStringConvertible {
    var batch, channels, height, width, outChannels: Int
    var withBias = true
    /// V and M of one band in floats; small values force several bands per image.
    var bandFloats = 1 << 21
    var testDescription: String {
        "B\(batch) C\(channels) \(height)x\(width) -> O\(outChannels) band \(bandFloats)"
    }
}

@Suite struct WinogradTests {
    static let cases: [WinogradCase] = [
        WinogradCase(batch: 1, channels: 1, height: 1, width: 1, outChannels: 1),
        WinogradCase(batch: 1, channels: 3, height: 2, width: 2, outChannels: 4),
        WinogradCase(batch: 2, channels: 5, height: 7, width: 9, outChannels: 3),
        WinogradCase(batch: 1, channels: 2, height: 1, width: 6, outChannels: 2, withBias: false),
        WinogradCase(batch: 1, channels: 3, height: 6, width: 1, outChannels: 5),
        WinogradCase(batch: 3, channels: 12, height: 10, width: 12, outChannels: 7),
        WinogradCase(batch: 2, channels: 13, height: 11, width: 15, outChannels: 9, bandFloats: 16 * 22 * 10),
        WinogradCase(batch: 1, channels: 32, height: 16, width: 16, outChannels: 16),
        WinogradCase(batch: 2, channels: 9, height: 33, width: 17, outChannels: 11, withBias: false,
                     bandFloats: 16 * 20 * 27),
        WinogradCase(batch: 1, channels: 40, height: 24, width: 37, outChannels: 24, bandFloats: 16 * 64 * 40),
    ]

    /// Against the naive convolution in Double: the largest difference relative to the largest
    /// output stays near float rounding, for either tile.
    @Test(arguments: cases, WinogradTile.allCases)
    func matchesReference(_ c: WinogradCase, tile: WinogradTile) {
        var values = SeededValues(seed: UInt64(c.channels * 1000 + c.height * 10 + c.width))
        let input = values.tensor([c.batch, c.channels, c.height, c.width])
        let weight = values.tensor([c.outChannels, c.channels, 3, 3])
        let bias = c.withBias ? values.tensor([c.outChannels]) : nil
        var out = Tensor(zeros: [3])
        var scratch: [Float] = []
        conv3x3Winograd(&out, input, weight: Conv3x3Winograd(weight: weight, tile: tile), bias: bias,
                        scratch: &scratch, bandFloats: c.bandFloats)
        let want = conv2dReference(input, weight: weight, bias: bias, padding: .symmetric(1))
        #expect(out.shape == want.shape)
        let scale = max(1, want.storage.map(abs).max() ?? 0)
        assertClose("\(c.testDescription) \(tile)", out.storage, want.storage, tolerance: 1e-5 * scale)
    }

    @Test(arguments: WinogradTile.allCases)
    func reusesOutputAndScratchAcrossShapes(tile: WinogradTile) {
        var values = SeededValues(seed: 21)
        var out = Tensor(zeros: [0])
        var scratch: [Float] = []
        for (c, h, w) in [(8, 9, 9), (3, 4, 6), (16, 12, 3), (8, 9, 9)] {
            let input = values.tensor([1, c, h, w])
            let weight = values.tensor([6, c, 3, 3])
            conv3x3Winograd(&out, input, weight: Conv3x3Winograd(weight: weight, tile: tile), bias: nil,
                            scratch: &scratch)
            let want = conv2dReference(input, weight: weight, bias: nil, padding: .symmetric(1))
            assertClose("\(c) \(h)x\(w)", out, want, tolerance: 1e-5 * max(1, want.storage.map(abs).max() ?? 0))
        }
    }

    @Test(arguments: WinogradTile.allCases)
    func passesTheInputThroughAnIdentityKernel(tile: WinogradTile) {
        var values = SeededValues(seed: 3)
        let input = values.tensor([2, 3, 5, 4])
        var weight = Tensor(zeros: [3, 3, 3, 3])
        for c in 0..<3 { weight.storage[((c * 3 + c) * 3 + 1) * 3 + 1] = 1 }
        var out = Tensor(zeros: [1])
        var scratch: [Float] = []
        conv3x3Winograd(&out, input, weight: Conv3x3Winograd(weight: weight, tile: tile), bias: nil,
                        scratch: &scratch)
        assertClose("identity \(tile)", out, input, tolerance: 1e-6)
    }

    /// F(4×4) where the weights are small enough to store 4× over; the 512-channel layers, whose
    /// F(4×4) weights would take 36 MB each, keep F(2×2).
    @Test func layersUpTo256ChannelsTakeTheLargerTile() {
        #expect(WinogradTile.preferred(inChannels: 128, outChannels: 128) == .f4x4)
        #expect(WinogradTile.preferred(inChannels: 256, outChannels: 256) == .f4x4)
        #expect(WinogradTile.preferred(inChannels: 256, outChannels: 512) == .f2x2)
        #expect(WinogradTile.preferred(inChannels: 512, outChannels: 512) == .f2x2)
        #expect(WinogradTile.f4x4.points == 36 && WinogradTile.f2x2.points == 16)
    }
}
