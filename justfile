# Everyday commands; each is a plain cargo command underneath.

# Run eats embedded (SQLite in ./eats-data).
run:
    cargo run --release -- serve

# The README's test command.
test:
    cargo test --workspace

# What CI checks besides the tests.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Regenerate schemas/events/ from the code, then review the diff.
schemas:
    EATS_UPDATE_SCHEMAS=1 cargo test -p eats-domain --test schemas
    EATS_UPDATE_SCHEMAS=1 cargo test -p eats-api --test openapi

# Postgres and NATS for the tests, when the machine has none.
services:
    docker compose up -d postgres nats

# Whole order lifecycles through the HTTP API, closed loop (bench/src/bin/lifecycles.rs), in
# each mode, with the write-path baselines measured in the same run (raw SQL floor, bare
# postgres-es, SQLite's floor, eats's own command path) and printed as ratios; results and
# the machine go to bench/README.md. `just bench quick` takes under a minute.
bench speed="full":
    cargo build --release --bin eats --bin lifecycles -p eats -p eats-bench
    if [ "{{speed}}" = quick ]; then \
      target/release/lifecycles --mode embedded --clients 16 --seconds 6 --warmup 2 --baseline-seconds 2 && \
      target/release/lifecycles --mode distributed --clients 16 --seconds 6 --warmup 2 --baseline-seconds 2; \
    else \
      for mode in embedded distributed separate; do \
        target/release/lifecycles --mode $mode --clients 16,64,256 --seconds 30 --warmup 5 || exit 1; \
      done; \
    fi
