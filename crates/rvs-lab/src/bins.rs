//! Finding rvs's own executables (rvsd, rvsadm, rvs-realserver) next to this one.

use std::path::PathBuf;

/// The directory holding the workspace's binaries: the directory of the running
/// executable, or its parent when running as a test from `target/*/deps`.
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent().map(PathBuf::from).unwrap_or(dir)
    } else {
        dir
    }
}

/// Path of a workspace binary, checked to exist.
pub fn find(name: &str) -> Result<PathBuf, String> {
    let path = bin_dir().join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found (build the workspace first: cargo build --release)",
            path.display()
        ))
    }
}
