//! Links with cortex-m-rt's `link.x` (reading the quickstart's mps2-an386 `memory.x`) and
//! defmt's `defmt.x`; sets the `board` cfg the quickstart's time driver reads.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let memory = fs::read_to_string("../quickstart/memory-mps2_an386.x").unwrap();
    fs::write(out.join("memory.x"), memory).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Tdefmt.x");
    println!("cargo::rustc-check-cfg=cfg(board, values(\"microbit\", \"mps2_an386\"))");
    println!("cargo:rustc-cfg=board=\"mps2_an386\"");
    println!("cargo:rerun-if-changed=../quickstart/memory-mps2_an386.x");
}
