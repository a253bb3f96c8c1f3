# vqtok: the tokenizer server. Build:  docker build -t vqtok .
#                                Run:    docker run -p 8080:8080 vqtok
# The package lists match Scripts/install-deps.sh: its -dev packages to build, and the four
# runtime libraries they bring (OpenBLAS, libpng, libjpeg-turbo, nghttp2) to run.

# ---- build ------------------------------------------------------------------------------
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libopenblas-dev libpng-dev libjpeg-dev libnghttp2-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# The manifest names every target, so the package loads only with its source folders present.
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift package resolve
RUN swift build -c release --static-swift-stdlib --product vqtok \
    && install -D "$(swift build -c release --show-bin-path)/vqtok" /out/vqtok

# ---- runtime ----------------------------------------------------------------------------
FROM debian:bookworm-slim
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libopenblas0-pthread libpng16-16 libjpeg62-turbo libnghttp2-14 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home-dir /opt/vqtok vqtok
WORKDIR /opt/vqtok
COPY --from=build /out/vqtok /usr/local/bin/vqtok
COPY Models ./Models
USER vqtok
EXPOSE 8080
# No curl in the slim image: bash's /dev/tcp speaks the one HTTP/1.1 request the check needs.
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
CMD ["vqtok", "serve"]
