//! Any ERROR log fails the test that caused it. In Tandem an ERROR means a bug of ours
//! (a stored message that no longer parses, say); what the network or an operator gets
//! wrong (a hostile datagram, a refused reload) is a WARN at most. [`crate::World`]
//! installs this for the thread it runs on.

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::subscriber::DefaultGuard;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// Panics, with the message, on an ERROR event.
struct PanicOnError;

/// Collects an event's fields as text.
struct Text(String);

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl<S: Subscriber> Layer<S> for PanicOnError {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if *event.metadata().level() == Level::ERROR {
            let mut text = Text(String::new());
            event.record(&mut text);
            panic!("an ERROR was logged (a bug of ours): {}{}", event.metadata().target(), text.0);
        }
    }
}

/// Fails the current thread's test on any ERROR log until the guard is dropped.
pub fn deny_error_logs() -> DefaultGuard {
    tracing::subscriber::set_default(tracing_subscriber::registry().with(PanicOnError))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "an ERROR was logged")]
    fn an_error_log_fails_the_test() {
        let _guard = deny_error_logs();
        tracing::warn!("a warning passes");
        tracing::error!(what = "a bug", "this fails");
    }
}
