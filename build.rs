//! Rebuilds the crate when a file under `templates/` is added, removed or changed: the binary
//! embeds the whole folder (`render::TEMPLATES`), which `include_dir!` alone does not track.
fn main() {
    println!("cargo::rerun-if-changed=templates");
}
