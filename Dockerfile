# runnergen in a container, for pipelines that should not build it: `runnergen` is the
# entrypoint, and nothing but the binary is added to a slim Debian of the same release as the
# builder (so the C library matches). No secret is used or kept: runnergen needs none.
#
#   docker build -t runnergen .
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD:/work" runnergen render fleet.yaml

FROM rust:1.95.0-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --locked --release

FROM debian:bookworm-slim
COPY --from=build /src/target/release/runnergen /usr/local/bin/runnergen
# Any user will do: runnergen writes only the output folder it is given.
USER 10001:10001
WORKDIR /work
ENTRYPOINT ["runnergen"]
CMD ["--help"]
