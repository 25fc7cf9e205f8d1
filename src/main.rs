//! The ferrogate appliance binary (the CLI and DPDK glue arrive with the foundation work).
fn main() {
    eprintln!("ferrogate: not built yet");
    std::process::exit(2);
}
