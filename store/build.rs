//! Rebuilds the crate when a migration is added or changed: `sqlx::migrate!` embeds the
//! folders at compile time and would otherwise keep an old set.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
