//! Builds the intel-ipsec-mb C shim (`csrc/imb_shim.c`) when the `ipsec-mb` feature is on.

use std::path::PathBuf;

const HEADER: &str = "intel-ipsec-mb.h";

/// Where to look for the header: `IPSEC_MB_INCLUDE_DIR` first, then the usual prefixes.
fn include_dir() -> Option<PathBuf> {
    let from_env = std::env::var_os("IPSEC_MB_INCLUDE_DIR").map(PathBuf::from);
    from_env
        .into_iter()
        .chain(["/usr/include", "/usr/local/include"].map(PathBuf::from))
        .find(|d| d.join(HEADER).is_file())
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=csrc/imb_shim.c");
    println!("cargo::rerun-if-env-changed=IPSEC_MB_INCLUDE_DIR");
    if std::env::var_os("CARGO_FEATURE_IPSEC_MB").is_none() {
        return;
    }
    let Some(dir) = include_dir() else {
        println!(
            "cargo::error=intel-ipsec-mb not found: run scripts/setup.sh \
             (or build with --no-default-features)"
        );
        return;
    };
    cc::Build::new()
        .file("csrc/imb_shim.c")
        .include(&dir)
        // The header aligns gcm_key_data only under LINUX; the shim must see the same layout
        // as the library.
        .define("LINUX", None)
        .define("NO_COMPAT_IMB_API_053", None)
        .flag_if_supported("-std=c11")
        .warnings(true)
        .extra_warnings(true)
        .compile("imb_shim");
    if let Ok(lib_dir) = std::env::var("IPSEC_MB_LIB_DIR") {
        println!("cargo::rustc-link-search=native={lib_dir}");
    }
    println!("cargo::rerun-if-env-changed=IPSEC_MB_LIB_DIR");
    println!("cargo::rustc-link-lib=IPSec_MB");
}
