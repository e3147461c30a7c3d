//! Running code that may panic inside Burn (a user's forward pass under capture, an operation
//! replayed on a backend) and turning the panic into an error, without the panic message and
//! backtrace that Rust's default hook prints to stderr.
//!
//! A process-wide hook is installed once, wrapping whatever hook was there: on a thread that
//! is inside [`catch`], a panic is recorded (message and location) for the error instead of
//! printed; on every other thread, and for panics outside [`catch`], the previous hook runs
//! unchanged. A hook the application installs later replaces ours, and then panics print
//! again; the errors are the same.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, PanicHookInfo, catch_unwind};
use std::sync::Once;

thread_local! {
    /// How many [`catch`] calls this thread is inside.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
    /// Where the last quiet panic on this thread happened.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if DEPTH.with(Cell::get) > 0 {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|l| *l.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

/// `f()`, or, if it panics, the panic's message and where it happened (`message (at
/// file:line)`), with nothing printed.
///
/// For code that calls into Burn where Burn panics on bad input instead of returning an error
/// (tracing a user's forward pass, replaying operations, loading a damaged optimizer record):
/// the caller turns the message into its own typed error. Not a substitute for checking what
/// can be checked first.
///
/// ```
/// let ok = burn_prune_core::catch_panic(|| 2 + 2);
/// assert_eq!(ok, Ok(4));
/// let err = burn_prune_core::catch_panic(|| -> u8 { panic!("bad record") }).unwrap_err();
/// assert!(err.starts_with("bad record (at "), "{err}");
/// ```
pub fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    install();
    DEPTH.with(|d| d.set(d.get() + 1));
    let outcome = catch_unwind(AssertUnwindSafe(f));
    DEPTH.with(|d| d.set(d.get() - 1));
    outcome.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic without a message".into());
        match LOCATION.with(|l| l.borrow_mut().take()) {
            Some(at) => format!("{message} (at {at})"),
            None => message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message_and_location() {
        let e = catch(|| -> u8 { panic!("shapes {} and {} differ", 2, 3) }).unwrap_err();
        assert!(e.starts_with("shapes 2 and 3 differ (at "), "{e}");
        assert!(e.contains("quiet_panic.rs:"), "{e}");
        assert_eq!(catch(|| 7), Ok(7));
        // Nested: the inner panic is caught by the inner call, the outer call returns.
        let nested = catch(|| catch(|| -> u8 { panic!("inner") }).unwrap_err());
        assert!(nested.unwrap().starts_with("inner"));
    }
}
