/// Fully connected layer (PyTorch's Linear): out = x · Wᵀ + b.
///
///     x      [N, I]
///     weight [O, I]
///     bias   [O] or nil
///     out    [N, O]
public func linear(_ out: inout Tensor, _ x: Tensor, weight: Tensor, bias: Tensor?) {
    precondition(x.shape.count == 2 && weight.shape.count == 2 && x.shape[1] == weight.shape[1],
                 "linear: x \(x.shape) does not fit weight \(weight.shape)")
    let (rows, inputs, outputs) = (x.shape[0], x.shape[1], weight.shape[0])
    precondition(bias == nil || bias!.shape == [outputs], "linear: bias must be [\(outputs)]")
    out.resize(to: [rows, outputs])
    x.storage.withUnsafeBufferPointer { xBuf in
        weight.storage.withUnsafeBufferPointer { wBuf in
            out.storage.withUnsafeMutableBufferPointer { outBuf in
                BLAS.sgemm(transB: true, m: rows, n: outputs, k: inputs,
                           a: xBuf.baseAddress!, lda: inputs, b: wBuf.baseAddress!, ldb: inputs,
                           c: outBuf.baseAddress!, ldc: outputs)
                if let bias {
                    for r in 0..<rows {
                        for o in 0..<outputs { outBuf[r * outputs + o] += bias.storage[o] }
                    }
                }
            }
        }
    }
}
