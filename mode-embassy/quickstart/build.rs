//! Puts the board's memory layout where cortex-m-rt's `link.x` finds it (`memory.x`), and
//! tells `time_driver.rs` which board it runs on: the target picks the QEMU board.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap());
    let board = if env::var("TARGET").unwrap().starts_with("thumbv6m") {
        "microbit"
    } else {
        "mps2_an386"
    };
    let memory = fs::read_to_string(format!("memory-{board}.x")).unwrap();
    fs::write(out.join("memory.x"), memory).unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo::rustc-check-cfg=cfg(board, values(\"microbit\", \"mps2_an386\"))");
    println!("cargo:rustc-cfg=board=\"{board}\"");
    println!("cargo:rerun-if-changed=memory-{board}.x");
}
