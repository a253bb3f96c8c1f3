import Tensor

/// taming `AttnBlock(C)`: single-head self-attention over the H·W positions.
///
///     h = norm(x); q, k, v = 1×1 convs of h
///     w = softmax(qᵀk / √C) over keys; out[:, i] = Σ_j w[i, j] v[:, j]
///     return x + proj_out(out)
struct AttnBlock: Sendable {
    let norm: GroupNormLayer
    let q, k, v, projOut: Conv2dLayer

    init(_ context: BlockContext, _ name: String, channels: Int) throws {
        let w = context.weights
        self.init(norm: try context.norm("\(name).norm", channels: channels),
                  q: try Conv2dLayer(w, "\(name).q", in: channels, out: channels, kernel: 1),
                  k: try Conv2dLayer(w, "\(name).k", in: channels, out: channels, kernel: 1),
                  v: try Conv2dLayer(w, "\(name).v", in: channels, out: channels, kernel: 1),
                  projOut: try Conv2dLayer(w, "\(name).proj_out", in: channels, out: channels, kernel: 1))
    }

    init(norm: GroupNormLayer, q: Conv2dLayer, k: Conv2dLayer, v: Conv2dLayer, projOut: Conv2dLayer) {
        (self.norm, self.q, self.k, self.v, self.projOut) = (norm, q, k, v, projOut)
    }

    /// x [B, C, H, W], in place.
    func forward(_ x: inout Tensor, _ ws: inout Workspace) {
        groupNorm(&ws.a, x, groups: norm.groups, weight: norm.weight, bias: norm.bias, eps: norm.eps)
        q.forward(&ws.q, ws.a, columns: &ws.columns)
        k.forward(&ws.k, ws.a, columns: &ws.columns)
        v.forward(&ws.v, ws.a, columns: &ws.columns)
        spatialAttention(&ws.b, q: ws.q, k: ws.k, v: ws.v, scores: &ws.scores)
        projOut.forward(&ws.a, ws.b, columns: &ws.columns)
        residualAdd(&x, ws.a)
    }
}
