// A bare server for Scripts/bench-http.sh: every request gets the same fixed body.
//   vqtok-http-bench [--host H] [--port P] [--bytes N] [--echo] [--max-body N]
// With --echo, POST bodies are echoed (for manual large-body checks); otherwise the fixed body.
import Foundation
import HTTP
import Logging

var host = "127.0.0.1", port = 8080, bytes = 13, echo = false
var config = HTTPServerConfiguration()
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--host": host = args.popFirst() ?? host
    case "--port": port = Int(args.popFirst() ?? "") ?? port
    case "--bytes": bytes = Int(args.popFirst() ?? "") ?? bytes
    case "--echo": echo = true
    case "--max-body": config.maxRequestBodyBytes = Int(args.popFirst() ?? "") ?? config.maxRequestBodyBytes
    default: FileHandle.standardError.write(Data("unknown argument \(a)\n".utf8)); exit(2)
    }
}

let echoPOST = echo
let body = [UInt8](repeating: UInt8(ascii: "x"), count: bytes)
let fixed = HTTPResponse(status: 200, contentType: "text/plain", body: body)
// The fixed response is answered inline, on the connection's queue; echoes go through a Task.
let handler = HTTPHandlerFunction(inline: { request in
    echoPOST && request.method == "POST" ? nil : fixed
}) { request in
    HTTPResponse(status: 200, body: request.body)
}
let server = HTTPServer(configuration: config, handler: handler)
do {
    try server.start(host: host, port: port)
} catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
print("listening on \(host):\(server.boundPort)")
let signalDrain = server.installSignalDrain(deadline: .seconds(5)) { clean in exit(clean ? 0 : 1) }
withExtendedLifetime(signalDrain) { dispatchMain() }
