//! Rebuilds the crate when the embedded blueprint library changes.
fn main() {
    println!("cargo:rerun-if-changed=../blueprints");
}
