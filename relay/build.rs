// `sqlx::migrate!` embeds relay/migrations at compile time: rebuild when a migration is
// added or changed, even if no Rust file is.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
