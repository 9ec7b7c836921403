//! Issue 14, the operational items: unsealed audit events protected like sealed ones
//! ([`audit_outbox`]), audit streams not cut by the request pool's statement timeout
//! ([`long_streams`]), and metrics that count what happened ([`counted`]).

mod audit_outbox;
mod counted;
mod long_streams;

use base64::Engine;
use haven::crypto::MasterKey;

/// Two copies of one random master key: a server and a CLI process of one deployment.
pub(crate) fn shared_master_key() -> (MasterKey, MasterKey) {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).expect("OS RNG");
    let text = base64::engine::general_purpose::STANDARD.encode(raw);
    (
        MasterKey::from_base64(&text).expect("key"),
        MasterKey::from_base64(&text).expect("key"),
    )
}
