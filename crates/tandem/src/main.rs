//! `tandem`: see `tandem --help`.

use tracing_subscriber::EnvFilter;

/// jemalloc instead of the system allocator: after a load peak, glibc's malloc kept the
/// peak heap resident (380 MiB after a 45,000 calls/s run settled); jemalloc's background
/// thread hands freed pages back to the system within seconds (`dirty_decay_ms`, 10 s).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    tandem::exit_on_panic();
    #[cfg(not(target_env = "msvc"))]
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc background thread not started: freed memory is returned only on allocation");
    }
    match tandem::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
