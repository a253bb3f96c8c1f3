import Testing
@testable import Tensor
import TestSupport

struct ConvCase: Sendable, CustomTestStringConvertible {
    var batch, channels, height, width, outChannels, kernel, stride: Int
    var padding: Padding2D
    var withBias = true
    var testDescription: String {
        "B\(batch) C\(channels) \(height)x\(width) -> O\(outChannels) k\(kernel) s\(stride) pad(\(padding.top),\(padding.bottom),\(padding.left),\(padding.right))"
    }
}

@Suite struct Conv2dTests {
    static let cases: [ConvCase] = [
        ConvCase(batch: 1, channels: 3, height: 5, width: 7, outChannels: 4, kernel: 3, stride: 1, padding: .symmetric(1)),
        ConvCase(batch: 2, channels: 5, height: 9, width: 6, outChannels: 3, kernel: 3, stride: 2, padding: .rightBottom),
        ConvCase(batch: 2, channels: 4, height: 8, width: 8, outChannels: 6, kernel: 3, stride: 2, padding: .rightBottom),
        ConvCase(batch: 3, channels: 4, height: 8, width: 8, outChannels: 6, kernel: 1, stride: 1, padding: .zero),
        ConvCase(batch: 1, channels: 2, height: 7, width: 7, outChannels: 3, kernel: 3, stride: 2, padding: .symmetric(1)),
        ConvCase(batch: 2, channels: 3, height: 6, width: 5, outChannels: 2, kernel: 1, stride: 2, padding: .zero),
        ConvCase(batch: 1, channels: 3, height: 4, width: 4, outChannels: 2, kernel: 3, stride: 1, padding: .zero, withBias: false),
        ConvCase(batch: 1, channels: 2, height: 3, width: 5, outChannels: 2, kernel: 3, stride: 1,
                 padding: Padding2D(top: 2, bottom: 0, left: 1, right: 3)),
        // Padding wider than the input: some kernel columns see only zeros.
        ConvCase(batch: 1, channels: 2, height: 2, width: 2, outChannels: 2, kernel: 3, stride: 1,
                 padding: Padding2D(top: 1, bottom: 1, left: 4, right: 4)),
        // K·Wo = 576·48: the unfolded input is split into several row bands.
        ConvCase(batch: 2, channels: 64, height: 50, width: 48, outChannels: 3, kernel: 3, stride: 1, padding: .symmetric(1)),
    ]

    @Test(arguments: cases)
    func matchesReference(_ c: ConvCase) {
        var values = SeededValues(seed: UInt64(c.channels * 1000 + c.height))
        let input = values.tensor([c.batch, c.channels, c.height, c.width])
        let weight = values.tensor([c.outChannels, c.channels, c.kernel, c.kernel])
        let bias = c.withBias ? values.tensor([c.outChannels]) : nil
        var out = Tensor(zeros: [0])
        var columns: [Float] = []
        conv2d(&out, input, weight: weight, bias: bias, stride: c.stride, padding: c.padding, columns: &columns)
        let want = conv2dReference(input, weight: weight, bias: bias, stride: c.stride, padding: c.padding)
        assertClose(c.testDescription, out, want, tolerance: 1e-4)
    }

    @Test func identityKernelCopiesInput() {
        var values = SeededValues(seed: 7)
        let input = values.tensor([2, 3, 5, 4])
        var weight = Tensor(zeros: [3, 3, 3, 3])
        for c in 0..<3 { weight.storage[((c * 3 + c) * 3 + 1) * 3 + 1] = 1 }
        var out = Tensor(zeros: [1])
        var columns: [Float] = []
        conv2d(&out, input, weight: weight, bias: nil, padding: .symmetric(1), columns: &columns)
        #expect(out == input)
    }

    @Test func rightBottomPadStride2ByHand() {
        // 1 channel 2×2 input [[1,2],[3,4]], all-ones 3×3 kernel, pad (0,1,0,1), stride 2:
        // a single output = sum of the window at (0,0) with the zero row/column = 10.
        let input = Tensor(shape: [1, 1, 2, 2], storage: [1, 2, 3, 4])
        let weight = Tensor(shape: [1, 1, 3, 3], storage: Array(repeating: 1, count: 9))
        var out = Tensor(zeros: [0])
        var columns: [Float] = []
        conv2d(&out, input, weight: weight, bias: Tensor(shape: [1], storage: [0.5]), stride: 2,
               padding: .rightBottom, columns: &columns)
        #expect(out.shape == [1, 1, 1, 1])
        #expect(out.storage == [10.5])
    }

    @Test func reusesOutputAndScratchAcrossShapes() {
        var values = SeededValues(seed: 11)
        var out = Tensor(zeros: [0])
        var columns: [Float] = []
        for (h, w) in [(9, 9), (4, 6), (12, 3)] {
            let input = values.tensor([1, 2, h, w])
            let weight = values.tensor([3, 2, 3, 3])
            conv2d(&out, input, weight: weight, bias: nil, padding: .symmetric(1), columns: &columns)
            assertClose("\(h)x\(w)", out, conv2dReference(input, weight: weight, bias: nil, padding: .symmetric(1)),
                        tolerance: 1e-5)
        }
    }
}
