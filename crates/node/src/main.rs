//! `tandem`: see `tandem --help`.

use tracing_subscriber::EnvFilter;

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    exit_on_panic();
    match node::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A panic anywhere (a site's engine task, a connection task) ends the whole process with
/// a non-zero status, so a supervisor restarts it: a live process with a dead site would
/// look healthy while it loses calls. Tokio would otherwise catch the panic in the task.
fn exit_on_panic() {
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        tracing::error!("a task panicked ({info}); exiting so that a supervisor restarts the process");
        std::process::exit(70);
    }));
}
