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
