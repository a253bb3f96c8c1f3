extension Array where Element: Sendable {
    /// `map` with the elements transformed concurrently (images of a batch decoded on several
    /// cores). Results keep their order; when several fail, the first by index is thrown.
    func concurrentMap<T: Sendable>(_ transform: @escaping @Sendable (Int, Element) throws(ServiceError) -> T)
        async throws(ServiceError) -> [T] {
        guard count > 1 else {
            var out: [T] = []
            for (i, element) in enumerated() { out.append(try transform(i, element)) }
            return out
        }
        let results = await withTaskGroup(of: (Int, Result<T, ServiceError>).self) { group in
            for (i, element) in enumerated() {
                group.addTask { (i, Result { () throws(ServiceError) in try transform(i, element) }) }
            }
            var out = [Result<T, ServiceError>?](repeating: nil, count: count)
            for await (i, result) in group { out[i] = result }
            return out
        }
        var out: [T] = []
        out.reserveCapacity(count)
        for result in results { out.append(try result!.get()) }
        return out
    }
}
