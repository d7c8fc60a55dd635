# syntax=docker/dockerfile:1
# sonogate: DICOM gateway. Build:  docker build -t sonogate .
# Run:    docker run -p 11112:11112 -p 8080:8080 -v sonogate-data:/data sonogate
# With a config file: mount it and pass `serve --config /etc/sonogate/sonogate.yaml`.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/sonogate ./cmd/sonogate

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin sonogate \
 && mkdir -p /data && chown sonogate:sonogate /data
COPY --from=build /out/sonogate /usr/local/bin/sonogate
USER sonogate
WORKDIR /data
# With no config file the embedded defaults apply (AE SONOGATE, DIMSE :11112,
# HTTP :8080); data_dir ./sonogate-data is relative to WORKDIR, i.e. /data/sonogate-data.
EXPOSE 11112 8080
VOLUME /data
ENTRYPOINT ["sonogate"]
CMD ["serve"]
