# Continuum: a static binary on a distroless base, run as non-root.
#   docker build -t continuum --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8080:8080 -v $PWD/config.yaml:/etc/continuum/config.yaml:ro continuum
# The configuration must bind 0.0.0.0:8080 (server.bind_address) to be reachable.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/continuumhq/continuum/internal/app.Version=${VERSION} -X github.com/continuumhq/continuum/internal/app.Commit=${COMMIT}" \
      -o /out/continuum ./cmd/continuum

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/continuum /continuum
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/continuum","serve","-c","/etc/continuum/config.yaml"]
