import Checkpoint

/// GET /v1/models and /v1/models/{model}: what is loaded and how to call it.
enum ModelInfo {
    static func json(_ model: ModelRuntime, configuration: ServiceConfiguration) -> String {
        let config = model.engine.config
        let f = model.engine.downsampleFactor
        let side = config.preprocessing.resolution
        var quantizer = "\"kind\":\(JSONText.quoted(config.quantizer.kind.rawValue)),"
            + "\"codebook_size\":\(model.spec.codebookSize),\"codebook_dim\":\(config.quantizer.embedDim)"
        if let frozen = config.quantizer.frozenCodebookDim { quantizer += ",\"frozen_codebook_dim\":\(frozen)" }
        if let groups = model.spec.groups { quantizer += ",\"groups\":\(groups)" }
        let grid = [side / f, side / f] + (model.spec.groups.map { [$0] } ?? [])
        let resizeModes = ResizeMode.allCases.map { JSONText.quoted($0.rawValue) }.joined(separator: ",")
        return "{\"name\":\(JSONText.quoted(model.name)),"
            + "\"family\":\(JSONText.quoted(config.family.rawValue)),"
            + "\"quantizer\":{\(quantizer)},"
            + "\"codebook_size\":\(model.spec.codebookSize),"
            + "\"codebook_dim\":\(config.quantizer.embedDim),"
            + "\"grid\":[\(grid.map(String.init).joined(separator: ","))],"
            + "\"downsample_factor\":\(f),"
            + "\"id_dtype\":\(JSONText.quoted(IdDType(codebookSize: model.spec.codebookSize).rawValue)),"
            + "\"preprocessing\":{\"resolution\":\(side),"
            + "\"interpolation\":\(JSONText.quoted(config.preprocessing.interpolation.rawValue)),"
            + (config.preprocessing.shortestSide.map { "\"shortest_side\":\($0)," } ?? "")
            + (config.preprocessing.centerCrop.map { "\"center_crop\":\(JSONText.quoted($0.rawValue))," } ?? "")
            + "\"resize\":\"crop\",\"resize_options\":[\(resizeModes)]},"
            + "\"limits\":{\"max_image_pixels\":\(configuration.maxImagePixels),"
            + "\"max_native_pixels\":\(configuration.maxNativePixels),"
            + "\"max_grid_positions\":\(model.spec.maxPositions),"
            + "\"max_items_per_request\":\(configuration.maxItemsPerRequest)},"
            + "\"status\":\(JSONText.quoted(model.isReady ? "ready" : "loading"))}"
    }

    static func list(_ models: [ModelRuntime], configuration: ServiceConfiguration) -> String {
        "{\"models\":[" + models.map { json($0, configuration: configuration) }.joined(separator: ",") + "]}"
    }
}

/// Counters and gauges of the transport (the HTTP server), read at scrape time.
public struct TransportSnapshot: Sendable {
    public var counters: [(label: String, dimensions: [(String, String)], total: Int64)]
    public var gauges: [(label: String, dimensions: [(String, String)], value: Double)]

    public init(counters: [(label: String, dimensions: [(String, String)], total: Int64)] = [],
                gauges: [(label: String, dimensions: [(String, String)], value: Double)] = []) {
        self.counters = counters
        self.gauges = gauges
    }
}
