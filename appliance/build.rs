//! The migrations are compiled into the program (`db::MIGRATIONS`); without this, adding one
//! would not rebuild it, and the new migration would silently be missing until some Rust
//! source changed.

fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
