//! Generates the DPDK bindings and compiles the C shim.
//!
//! - pkg-config finds `libdpdk` (>= 22.11) and emits its link flags.
//! - bindgen binds only the EAL, ethdev, mbuf, mempool, ring and lcore APIs (an allowlist:
//!   the full headers contain packed structs Rust cannot represent).
//! - `src/dpdk/shim/shim.c` exports DPDK's `static inline` fast-path functions, compiled
//!   with pkg-config's cflags (`-march=corei7` is required by the inline intrinsics).
//!
//! When DPDK or libclang is missing the build stops with one line saying what to run.

use std::env;
use std::path::PathBuf;

const MIN_DPDK: &str = "22.11";
const SHIM_DIR: &str = "src/dpdk/shim";

fn main() {
    println!("cargo::rerun-if-changed={SHIM_DIR}/shim.h");
    println!("cargo::rerun-if-changed={SHIM_DIR}/shim.c");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new().atleast_version(MIN_DPDK).probe("libdpdk") {
        Ok(lib) => lib,
        Err(_) => {
            println!(
                "cargo::error=DPDK >= {MIN_DPDK} (pkg-config libdpdk) not found: \
                 run `sudo scripts/setup.sh` to install it"
            );
            return;
        }
    };
    // Vdevs come from `--vdev` EAL arguments; `rte_vdev_init` (hot-plug) would also need
    // `-lrte_bus_vdev`, which libdpdk.pc does not list.

    let cflags = dpdk_cflags(&dpdk);

    let mut shim = cc::Build::new();
    shim.file(format!("{SHIM_DIR}/shim.c")).warnings(true).opt_level(3);
    for flag in &cflags {
        shim.flag(flag);
    }
    shim.compile("ferrogate_shim");

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let generated = std::panic::catch_unwind(|| {
        bindgen::Builder::default()
            .header(format!("{SHIM_DIR}/shim.h"))
            .clang_args(&cflags)
            .allowlist_function("fg_.*")
            .allowlist_function("rte_eal_.*")
            .allowlist_function("rte_eth_.*")
            .allowlist_function("rte_pktmbuf_.*")
            .allowlist_function("rte_mempool_.*")
            .allowlist_function("rte_ring_(create|free|lookup)")
            .allowlist_function("rte_lcore_.*")
            .allowlist_function("rte_get_(main|next)_lcore")
            .allowlist_function("rte_socket_(id|count|id_by_idx)")
            .allowlist_function("rte_thread_(un)?register")
            .allowlist_function("rte_strerror")
            .allowlist_function("rte_version")
            .allowlist_function("rte_exit")
            .allowlist_type("rte_mbuf")
            .allowlist_type("rte_eth_.*")
            .allowlist_type("rte_ether_addr")
            .allowlist_type("rte_mempool")
            .allowlist_type("rte_ring")
            .allowlist_type("lcore_function_t")
            .allowlist_var("RTE_ETH_.*")
            .allowlist_var("RTE_MAX_(LCORE|ETHPORTS|NUMA_NODES)")
            .allowlist_var("RTE_PKTMBUF_HEADROOM")
            .allowlist_var("RTE_MBUF_DEFAULT_DATAROOM")
            .allowlist_var("RING_F_.*")
            .allowlist_var("SOCKET_ID_ANY")
            .allowlist_var("LCORE_ID_ANY")
            .blocklist_type("rte_arp_.*")
            .blocklist_type("rte_l2tpv2_.*")
            .blocklist_type("rte_gtp_.*")
            .blocklist_item("rte_flow_item_.*")
            .derive_default(true)
            .prepend_enum_name(false)
            .wrap_unsafe_ops(true)
            .layout_tests(false)
            .generate_comments(false)
            .generate()
    });
    let bindings = match generated {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => {
            println!(
                "cargo::error=bindgen could not read the DPDK headers ({e}): run `sudo scripts/setup.sh`"
            );
            return;
        }
        Err(_) => {
            println!(
                "cargo::error=bindgen needs libclang, which was not found: run `sudo scripts/setup.sh`"
            );
            return;
        }
    };
    bindings.write_to_file(out.join("dpdk_bindings.rs")).expect("write bindings to OUT_DIR");
}

/// pkg-config's compile flags, which both the shim and bindgen need: include paths,
/// `-include rte_config.h` and `-march=corei7` (the crate's `Library` drops the last two).
fn dpdk_cflags(dpdk: &pkg_config::Library) -> Vec<String> {
    let mut flags: Vec<String> = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    for p in &dpdk.include_paths {
        let f = format!("-I{}", p.display());
        if !flags.contains(&f) {
            flags.push(f);
        }
    }
    flags
}
