//! Services some tests need besides PostgreSQL (Redis), and what a test does when one is
//! missing: on a developer's machine it says so and skips; in CI (`CI=true`) it fails, because
//! a skipped test passes without testing anything and CI would claim what it did not check.

use std::fmt::Display;

/// Whether this run is CI: `CI` is set to anything but empty, `0` or `false` (`.ci/run` sets
/// `CI=true`, like the hosted CI services do).
#[must_use]
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        let value = value.trim();
        !value.is_empty() && value != "0" && !value.eq_ignore_ascii_case("false")
    })
}

/// The Redis of the tests: `HAVEN_TEST_REDIS_URL`, by default `redis://127.0.0.1:6379`.
#[must_use]
pub fn redis_url() -> String {
    std::env::var("HAVEN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// `test` cannot run without `service` (`why` says what went wrong). Outside CI it prints a
/// note and returns, and the test returns early; in CI it panics, failing the test.
///
/// # Panics
/// When [`in_ci`].
pub fn unavailable(test: &str, service: &str, why: &dyn Display) {
    assert!(
        !in_ci(),
        "{test} needs {service}, which is not available in CI ({why}); \
         .ci/run provides it, so the set-up is broken"
    );
    eprintln!("skipping {test}: no {service} ({why})");
}
