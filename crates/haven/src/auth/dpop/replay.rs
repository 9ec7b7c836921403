//! Each `(jkt, jti)` is accepted once (RFC 9449 §11.1). The check is a counter with a limit of
//! one in the rate limiter's store: in Redis when `HAVEN_REDIS_URL` is set (one atomic script,
//! so every instance sees every use), in process otherwise. The window outlives any proof
//! [`super::check`] still accepts (60 s back, 5 s ahead), so a replay cannot outwait it. When
//! Redis fails the limiter counts in process, which keeps replays out per instance for as long
//! as the outage lasts. No database write per request.

use std::time::Duration;

use crate::ratelimit::RateLimiter;

/// How long a used `(jkt, jti)` is remembered.
pub const WINDOW: Duration = Duration::from_secs(90);

/// Whether this is the first use of `(jkt, jti)` within [`WINDOW`]; records it.
pub async fn first_use(limiter: &RateLimiter, jkt: &str, jti: &str) -> bool {
    // The subject is hashed by the store: neither value is kept readable.
    let key = format!("dpop:{jkt}.{jti}");
    match limiter.hit(&key, 1, WINDOW).await {
        Ok(decision) => decision.allowed,
        // Only a zero window errs, and WINDOW is not zero: refuse rather than accept unchecked.
        Err(_) => false,
    }
}
