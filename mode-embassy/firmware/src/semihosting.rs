//! Logging, the command line and exit codes over semihosting.

use alloc::string::String;
use alloc::vec;

use cortex_m_semihosting::hprintln;
use log::{LevelFilter, Log, Metadata, Record};

/// mode's log lines (`[^--Service]: Starting...`) behind the uptime and level, in the
/// Worker's format: `[  0.120: INFO]: [^-App]: Started`.
struct SemihostingLogger;

static LOGGER: SemihostingLogger = SemihostingLogger;

impl Log for SemihostingLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let ms = embassy_time::Instant::now().as_millis();
            hprintln!(
                "[{:3}.{:03}: {}]: {}",
                ms / 1000,
                ms % 1000,
                record.level(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the logger at `Info`.
pub fn init_logger() {
    // A second call fails harmlessly; there is only one.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// Ends the QEMU run with `code` as its exit status (SYS_EXIT_EXTENDED).
pub fn exit(code: u32) -> ! {
    const SYS_EXIT_EXTENDED: usize = 0x20;
    const ADP_STOPPED_APPLICATION_EXIT: usize = 0x20026;
    loop {
        // SAFETY: a semihosting call with a valid two-word argument block.
        unsafe {
            cortex_m_semihosting::syscall(
                SYS_EXIT_EXTENDED,
                &[ADP_STOPPED_APPLICATION_EXIT, code as usize],
            );
        }
    }
}

/// The command line QEMU was given (`-semihosting-config …,arg=…`), or empty.
pub fn command_line() -> String {
    const SYS_GET_CMDLINE: usize = 0x15;
    let mut buffer = vec![0u8; 256];
    let mut block = [buffer.as_mut_ptr() as usize, buffer.len()];
    // SAFETY: the block points at `buffer` and its length; the host writes at most that
    // many bytes and stores the length it wrote in the block's second word.
    let status =
        unsafe { cortex_m_semihosting::syscall1(SYS_GET_CMDLINE, block.as_mut_ptr() as usize) };
    if status != 0 {
        return String::new();
    }
    buffer.truncate(block[1].min(buffer.len()));
    String::from_utf8(buffer).unwrap_or_default()
}
