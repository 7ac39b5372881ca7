# syntax=docker/dockerfile:1
# CTMS-Go container image: a static `ctms` binary on distroless, running as uid/gid 10001
# (as the Python CTMS's image does).
#
#   docker build -t ctms-go \
#     --build-arg VERSION="$(git describe --tags 2>/dev/null || echo v0.0.0)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" \
#     --build-arg BUILD="<CI build URL or id>" .
#
# The stamp is what /__version__ serves (unless $APP_DIR/version.json exists). The binary
# needs CTMS_DB_URL and CTMS_SECRET_KEY (see docs/configuration.md); run `migrate` once
# before `serve` (docs/compose.example.yaml). `make e2e` builds the same static binary and
# checks its start-up, its healthcheck and its docs pages.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=v0.0.0
ARG COMMIT=HEAD
ARG BUILD=
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-X github.com/ctms-go/ctms/internal/version.Version=${VERSION} \
                -X github.com/ctms-go/ctms/internal/version.Commit=${COMMIT} \
                -X github.com/ctms-go/ctms/internal/version.Build=${BUILD}" \
      -o /out/ctms ./cmd/ctms

# Distroless static: CA certificates and time zones, no shell.
FROM gcr.io/distroless/static-debian12
COPY --from=build /out/ctms /ctms
USER 10001:10001
ENV HOST=0.0.0.0 PORT=8000
EXPOSE 8000
# GET /__lbheartbeat__ on HOST:PORT; exit 0 on a 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/ctms", "healthcheck"]
ENTRYPOINT ["/ctms"]
CMD ["serve"]
