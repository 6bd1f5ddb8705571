//! The peak stack of a firmware in QEMU, read from outside the firmware.
//!
//! The firmware is built with cortex-m-rt's `paint-stack` feature, which fills the stack
//! (from `_stack_end` up to `_stack_start`) with `0xCCCC_CCCC` before `main`. QEMU runs it
//! with its GDB stub on a Unix socket, halted at the first instruction; this module speaks
//! the GDB remote protocol to it: a breakpoint on every semihosting call (`bkpt 0xab`),
//! continue until the call is an exit (`r0` is `SYS_EXIT` or `SYS_EXIT_EXTENDED`), then read
//! the stack region. The peak is the distance from `_stack_start` down to the lowest word
//! that is no longer paint. Nothing in the firmware changes but the start-up code, so the
//! same measurement applies to the binary with mode and to the one with embassy alone.

use std::io::{BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::w7::output;

/// cortex-m-rt's `STACK_PAINT_VALUE`.
const PAINT: u32 = 0xCCCC_CCCC;
/// The semihosting operations that end the program.
const SYS_EXIT: u32 = 0x18;
const SYS_EXIT_EXTENDED: u32 = 0x20;
/// How long a run may take before the measurement gives up.
const DEADLINE: Duration = Duration::from_secs(60);

/// The peak stack, in bytes, of `elf` (built with `cortex-m-rt/paint-stack`) run to its
/// exit on QEMU's mps2-an386.
pub(crate) fn peak_stack(elf: &Path) -> Result<u64, String> {
    let stack_end = symbol(elf, "_stack_end")?;
    let stack_start = symbol(elf, "_stack_start")?;
    let breakpoints = semihosting_calls(elf)?;
    let socket = std::env::temp_dir().join(format!("mode-bench-gdb-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket);
    let qemu = Qemu(
        Command::new("qemu-system-arm")
            .args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-nographic"])
            .args(["-monitor", "none", "-serial", "none", "-icount", "shift=4"])
            .args(["-semihosting-config", "enable=on,target=native"])
            .arg("-chardev")
            .arg(format!(
                "socket,id=gdb,path={},server=on,wait=off",
                socket.display()
            ))
            .args(["-gdb", "chardev:gdb", "-S", "-kernel"])
            .arg(elf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|err| format!("qemu-system-arm: {err}"))?,
    );
    let stream = connect(&socket)?;
    let _ = std::fs::remove_file(&socket);
    stream
        .set_read_timeout(Some(DEADLINE))
        .map_err(|err| err.to_string())?;
    let mut gdb = Remote::new(stream)?;
    for address in breakpoints {
        gdb.expect_ok(&format!("Z0,{address:x},2"))?;
    }
    let started = Instant::now();
    let mut stopped_at: Option<u64> = None;
    loop {
        // As GDB does, a breakpoint the CPU stopped at is stepped over before continuing.
        if let Some(address) = stopped_at {
            gdb.expect_ok(&format!("z0,{address:x},2"))?;
            halted(&gdb.request("s")?)?;
            gdb.expect_ok(&format!("Z0,{address:x},2"))?;
        }
        halted(&gdb.request("c")?)?;
        // The general registers, r0 to r15, four bytes each.
        let registers = hex_bytes(&gdb.request("g")?)?;
        let operation = word(&registers);
        if operation == Some(SYS_EXIT) || operation == Some(SYS_EXIT_EXTENDED) {
            break;
        }
        if started.elapsed() > DEADLINE {
            return Err("the firmware did not exit within a minute".to_string());
        }
        // r15, the program counter.
        stopped_at = registers.get(60..).and_then(word).map(u64::from);
    }
    let mut lowest_used = stack_start;
    let mut address = stack_end;
    'scan: while address < stack_start {
        let len = (stack_start - address).min(1024);
        let bytes = hex_bytes(&gdb.request(&format!("m{address:x},{len:x}"))?)?;
        for (index, bytes) in bytes.chunks(4).enumerate() {
            if word(bytes) != Some(PAINT) {
                lowest_used = address + 4 * index as u64;
                break 'scan;
            }
        }
        address += len;
    }
    drop(qemu);
    Ok(stack_start - lowest_used)
}

/// Kills QEMU when the measurement ends, whichever way.
struct Qemu(Child);

impl Drop for Qemu {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connects to QEMU's GDB socket once QEMU has made it.
fn connect(socket: &Path) -> Result<UnixStream, String> {
    let started = Instant::now();
    loop {
        match UnixStream::connect(socket) {
            Ok(stream) => return Ok(stream),
            Err(err) if started.elapsed() > Duration::from_secs(10) => {
                return Err(format!("QEMU's GDB socket {}: {err}", socket.display()))
            }
            Err(_) => thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// The address of a symbol of `elf`, from `arm-none-eabi-nm`.
fn symbol(elf: &Path, name: &str) -> Result<u64, String> {
    let symbols = output(Command::new("arm-none-eabi-nm").arg(elf))?;
    symbols
        .lines()
        .find(|line| line.split_whitespace().nth(2) == Some(name))
        .and_then(|line| u64::from_str_radix(line.split_whitespace().next()?, 16).ok())
        .ok_or_else(|| format!("no symbol {name} in {}", elf.display()))
}

/// The addresses of the semihosting calls (`bkpt 0xab`) in `elf`'s code.
fn semihosting_calls(elf: &Path) -> Result<Vec<u64>, String> {
    let listing = output(Command::new("arm-none-eabi-objdump").arg("-d").arg(elf))?;
    let calls: Vec<u64> = listing
        .lines()
        .filter(|line| line.contains("bkpt") && line.contains("0x00ab"))
        .filter_map(|line| u64::from_str_radix(line.split(':').next()?.trim(), 16).ok())
        .collect();
    if calls.is_empty() {
        return Err(format!("no semihosting call in {}", elf.display()));
    }
    Ok(calls)
}

/// Checks that a stop reply says the CPU halted (not that the program ended).
fn halted(reply: &str) -> Result<(), String> {
    if reply.starts_with('T') || reply.starts_with('S') {
        Ok(())
    } else {
        Err(format!("the firmware ended before its exit call: {reply}"))
    }
}

/// A little-endian word from the first four of `bytes`.
fn word(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?))
}

/// The bytes of a hexadecimal reply (`m`, `p`); an `Exx` reply is an error.
fn hex_bytes(hex: &str) -> Result<Vec<u8>, String> {
    if hex.len() % 2 != 0 || hex.starts_with('E') {
        return Err(format!("GDB stub answered {hex}"));
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|err| err.to_string()))
        .collect()
}

/// The client end of the GDB remote protocol, in its acknowledged mode: every packet is
/// `$data#checksum`, and each side answers a packet with `+`.
struct Remote {
    reader: BufReader<UnixStream>,
    writer: UnixStream,
}

impl Remote {
    fn new(stream: UnixStream) -> Result<Self, String> {
        Ok(Remote {
            writer: stream.try_clone().map_err(|err| err.to_string())?,
            reader: BufReader::new(stream),
        })
    }

    fn request(&mut self, data: &str) -> Result<String, String> {
        let checksum = data.bytes().fold(0u8, u8::wrapping_add);
        write!(self.writer, "${data}#{checksum:02x}").map_err(|err| err.to_string())?;
        self.reply()
    }

    fn expect_ok(&mut self, data: &str) -> Result<(), String> {
        match self.request(data)?.as_str() {
            "OK" => Ok(()),
            other => Err(format!("GDB stub answered {other} to {data}")),
        }
    }

    /// The next packet from the stub (skipping its acknowledgements), acknowledged.
    fn reply(&mut self) -> Result<String, String> {
        let mut byte = [0u8];
        let mut read = |reader: &mut BufReader<UnixStream>| -> Result<u8, String> {
            reader
                .read_exact(&mut byte)
                .map_err(|err| format!("reading from QEMU's GDB stub: {err}"))?;
            Ok(byte[0])
        };
        while read(&mut self.reader)? != b'$' {}
        let mut data = Vec::new();
        loop {
            match read(&mut self.reader)? {
                b'#' => break,
                other => data.push(other),
            }
        }
        read(&mut self.reader)?;
        read(&mut self.reader)?;
        self.writer.write_all(b"+").map_err(|err| err.to_string())?;
        String::from_utf8(data).map_err(|err| err.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speaks_the_remote_protocol_with_acknowledgements() {
        let (client, mut stub) = UnixStream::pair().unwrap();
        let stub = thread::spawn(move || {
            let mut request = [0u8; 10];
            stub.read_exact(&mut request).unwrap();
            // Acknowledges the request, then answers with four bytes of memory.
            stub.write_all(b"+$cccccccc#20").unwrap();
            let mut ack = [0u8];
            stub.read_exact(&mut ack).unwrap();
            (request, ack)
        });
        let mut gdb = Remote::new(client).unwrap();
        let reply = gdb.request("m100,4").unwrap();
        assert_eq!(word(&hex_bytes(&reply).unwrap()), Some(PAINT));
        let (request, ack) = stub.join().unwrap();
        assert_eq!(&request, b"$m100,4#5e");
        assert_eq!(&ack, b"+");
    }

    #[test]
    fn an_error_reply_is_an_error() {
        assert!(hex_bytes("E14").is_err());
        assert_eq!(hex_bytes("0a0b").unwrap(), [10, 11]);
        assert_eq!(word(&[1, 0]), None);
    }
}
