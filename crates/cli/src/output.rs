//! The only place the CLI prints: results on standard output, problems on standard error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

use edgelab_common::config::{ConfigErrors, EXIT_CONFIG};

/// Prints one line of results to standard output and flushes it (scripts read it live).
pub fn line(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}");
    let _ = stdout.flush();
}

/// Prints a block of results (may span lines) to standard output.
pub fn block(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = write!(stdout, "{text}");
    if !text.ends_with('\n') {
        let _ = writeln!(stdout);
    }
    let _ = stdout.flush();
}

/// Prints a problem to standard error.
pub fn error(text: &str) {
    eprintln!("edgelab: {text}");
}

/// The line a node prints first when it is bound, so scripts can find it (SPEC §8).
pub fn listening(traffic: std::net::SocketAddr, admin: std::net::SocketAddr) {
    line(&format!("listening traffic={traffic} admin={admin}"));
}

/// Exit status of a run that finished but whose own error (send lateness or emulation
/// error p99) exceeded `--max-error`.
pub const EXIT_MAX_ERROR: u8 = 3;

/// `Some(3)` (after saying why on standard error) when `worst_p99_ms` exceeds `max_ms`.
pub fn max_error(max_ms: Option<f64>, worst_p99_ms: f64) -> Option<std::process::ExitCode> {
    let max_ms = max_ms?;
    (worst_p99_ms > max_ms).then(|| {
        error(&format!(
            "the emulator's own error (p99 {worst_p99_ms:.3} ms) exceeds --max-error {max_ms} ms"
        ));
        std::process::ExitCode::from(EXIT_MAX_ERROR)
    })
}

/// Prints every config problem and returns the exit code for bad config (64).
pub fn config_errors(errors: &ConfigErrors) -> std::process::ExitCode {
    eprint!("edgelab: {errors}");
    std::process::ExitCode::from(EXIT_CONFIG as u8)
}
