//! The JSON Web Key Set served at `/.well-known/jwks.json` (RFC 7517): public parts only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::generate::PublicParts;

/// One RSA public key as a JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    #[schema(rename = "use")]
    pub use_: String,
    /// Always `RS256`.
    pub alg: String,
    /// The key id tokens name in their header.
    pub kid: String,
    /// The modulus, base64url without padding.
    pub n: String,
    /// The public exponent, base64url without padding.
    pub e: String,
}

impl Jwk {
    pub(super) fn rsa(kid: &str, public: &PublicParts) -> Self {
        Self {
            kty: "RSA".to_owned(),
            use_: "sig".to_owned(),
            alg: "RS256".to_owned(),
            kid: kid.to_owned(),
            n: URL_SAFE_NO_PAD.encode(&public.n),
            e: URL_SAFE_NO_PAD.encode(&public.e),
        }
    }
}

/// `{"keys": [...]}`: the active key first, then retired keys still in their grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<Jwk>,
}
