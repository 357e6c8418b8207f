# Build the crmsync binary.
FROM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /workspace
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY internal/ internal/
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} go build -trimpath \
    -ldflags "-X github.com/crmsync/crmsync/internal/version.Version=${VERSION}" -o crmsync ./cmd

# The state store (SQLite by default) lives on a volume mounted at /var/lib/crmsync.
FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /workspace/crmsync .
USER 65532:65532
ENTRYPOINT ["/crmsync"]
CMD ["manager"]
