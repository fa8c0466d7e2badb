FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin eats

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 eats && mkdir /data && chown eats /data
COPY --from=build /src/target/release/eats /usr/local/bin/eats
USER eats
ENV EATS_DATA_DIR=/data EATS_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["eats"]
CMD ["serve"]
