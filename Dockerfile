# eats: one image for every role (EATS_ROLES picks them). Dependencies are compiled in their
# own layer (cargo-chef), so a source change rebuilds only the workspace crates.
FROM lukemathwalker/cargo-chef:latest-rust-1-bookworm AS chef
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json --bin eats
COPY . .
RUN cargo build --release --locked --bin eats

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --no-create-home eats \
    && mkdir /data && chown eats:eats /data
COPY --from=build /src/target/release/eats /usr/local/bin/eats
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
ENV EATS_DATA_DIR=/data EATS_LISTEN=0.0.0.0:8080
EXPOSE 8080
# No curl in the image: bash's /dev/tcp asks /healthz on the port EATS_LISTEN names.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${EATS_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["eats"]
CMD ["serve"]
