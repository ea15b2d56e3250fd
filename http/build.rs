//! Release builds embed `web/dist` (see `src/webapp.rs`) at compile time, so they must be
//! rebuilt when the web app is rebuilt. Cargo cannot see new files behind a derive macro, so
//! this watches the folder (or, before the first web build, `web/` for it to appear). Debug
//! builds read the files from disk at run time and need nothing.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("PROFILE").as_deref() != Ok("release") {
        return;
    }
    if std::path::Path::new("../web/dist").exists() {
        println!("cargo:rerun-if-changed=../web/dist");
    } else {
        println!("cargo:rerun-if-changed=../web");
    }
}
