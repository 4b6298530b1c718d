//! `tandem`: see `tandem --help`.

use tracing_subscriber::EnvFilter;

/// jemalloc instead of the system allocator: after a load peak, glibc's malloc kept the
/// peak heap resident (380 MiB after a 45,000 calls/s run settled); jemalloc's background
/// thread hands freed pages back to the system within seconds (`dirty_decay_ms`, 10 s).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    init_logging();
    tandem::exit_on_panic();
    #[cfg(not(target_env = "msvc"))]
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc background thread not started: freed memory is returned only on allocation");
    }
    match tandem::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Once, to stderr, for people and supervisors alike.
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr: `RUST_LOG` filters (default `info`); `TANDEM_LOG_FORMAT=json` writes
/// one JSON object per line (for log shippers); colours only on a terminal and without
/// `NO_COLOR`.
fn init_logging() {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("TANDEM_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.with_ansi(colour).init();
    }
}
