//! Making and opening signing keys. aws-lc-rs generates the RSA pairs; the private half is
//! sealed under the master key before it leaves this module and is opened only here.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKey, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use zeroize::Zeroizing;

use super::KeyError;
use crate::crypto::{KekId, UnwrapError, Wrapping};

/// RSA 3072: NIST's 128-bit security level (SP 800-57), the SPEC's default.
const KEY_SIZE: KeySize = KeySize::Rsa3072;

/// The DER of `AlgorithmIdentifier`'s first element for rsaEncryption (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01,
];

/// A freshly generated key, ready to insert.
pub(super) struct NewKey {
    pub kid: String,
    pub public_der: Vec<u8>,
    pub sealed_private: Vec<u8>,
    /// The master key it is sealed under.
    pub kek_id: KekId,
}

/// The public half of a key, as verification and the JWKS need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PublicParts {
    /// The modulus, big-endian, without leading zeros.
    pub n: Vec<u8>,
    /// The public exponent, big-endian, without leading zeros.
    pub e: Vec<u8>,
}

/// A stored key, opened: the private key for signing and the public parts it proves genuine.
pub(super) struct OpenedKey {
    pub encoding: EncodingKey,
    pub public: PublicParts,
}

/// Generates an RSA-3072 pair with a random kid and seals its PKCS#8 DER under the current
/// master key, bound to the kid. Generation takes hundreds of milliseconds, so it runs on the
/// blocking pool.
pub(super) async fn generate(wrapping: &Wrapping) -> Result<NewKey, KeyError> {
    let (pkcs8, public_der) = tokio::task::spawn_blocking(|| {
        let pair = KeyPair::generate(KEY_SIZE).map_err(|_| KeyError::Crypto("RSA generation"))?;
        let pkcs8: Pkcs8V1Der<'static> = pair
            .as_der()
            .map_err(|_| KeyError::Crypto("PKCS#8 export"))?;
        let public: PublicKeyX509Der<'static> = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Crypto("public key export"))?;
        Ok::<_, KeyError>((
            Zeroizing::new(pkcs8.as_ref().to_vec()),
            public.as_ref().to_vec(),
        ))
    })
    .await
    .map_err(|_| KeyError::Crypto("key generation task"))??;
    let kid = new_kid();
    let sealed_private = wrapping.seal(&pkcs8, kid.as_bytes());
    Ok(NewKey {
        kid,
        public_der,
        sealed_private,
        kek_id: wrapping.current().clone(),
    })
}

/// 16 random bytes, base64url: unguessable, so a kid says nothing about when or where a key was
/// made.
fn new_kid() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system's RNG is unavailable");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Opens a stored key and checks that its stored public key is the private key's own.
///
/// The public column is not encrypted, so without this check anyone able to write the table
/// could plant a public key of their own next to a genuine kid and have their tokens accepted;
/// the sealed private key (bound to the kid) is what vouches for it.
pub(super) fn open(
    wrapping: &Wrapping,
    kek: Option<&KekId>,
    kid: &str,
    sealed_private: &[u8],
    public_der: &[u8],
) -> Result<OpenedKey, KeyError> {
    let corrupt = || KeyError::Corrupt(kid.to_owned());
    let pkcs8 = unwrap_private(wrapping, kek, kid, sealed_private)?;
    let pair = KeyPair::from_pkcs8(&pkcs8).map_err(|_| corrupt())?;
    let public = components(pair.public_key());
    let stored = PublicKey::from_der(public_der).map_err(|_| corrupt())?;
    if components(&stored) != public {
        return Err(corrupt());
    }
    // jsonwebtoken's aws-lc-rs signer takes PKCS#1 `RSAPrivateKey` DER, not PKCS#8; parse the
    // inner key once here so a bad one fails at load rather than at the first login.
    let pkcs1 = pkcs1_from_pkcs8(&pkcs8).ok_or_else(corrupt)?;
    KeyPair::from_der(pkcs1).map_err(|_| corrupt())?;
    Ok(OpenedKey {
        encoding: EncodingKey::from_rsa_der(pkcs1),
        public,
    })
}

/// The PKCS#8 DER of a stored key, unwrapped with the master key `kek` names.
pub(super) fn unwrap_private(
    wrapping: &Wrapping,
    kek: Option<&KekId>,
    kid: &str,
    sealed_private: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    wrapping
        .open(kek, sealed_private, kid.as_bytes())
        .map_err(|error| match error {
            UnwrapError::MissingKey(kek) => KeyError::MasterKeyMissing {
                kid: kid.to_owned(),
                kek,
            },
            UnwrapError::Failed => KeyError::Corrupt(kid.to_owned()),
        })
}

fn components(public: &PublicKey) -> PublicParts {
    let PublicKeyComponents { n, e } = PublicKeyComponents::<Vec<u8>>::from(public);
    PublicParts { n, e }
}

/// The `RSAPrivateKey` inside a PKCS#8 v1/v2 `PrivateKeyInfo` (RFC 5208 / 5958):
/// `SEQUENCE { version INTEGER, algorithm AlgorithmIdentifier, privateKey OCTET STRING, .. }`.
fn pkcs1_from_pkcs8(der: &[u8]) -> Option<&[u8]> {
    let (info, rest) = tlv(der, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (version, info) = tlv(info, 0x02)?;
    if version != [0] && version != [1] {
        return None;
    }
    let (algorithm, info) = tlv(info, 0x30)?;
    if !algorithm.starts_with(RSA_ENCRYPTION_OID) {
        return None;
    }
    let (private_key, _attributes) = tlv(info, 0x04)?;
    Some(private_key)
}

/// Splits one DER element with `tag` off the front of `input`: (its contents, what follows).
fn tlv(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = input.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form; DER never needs more than 4 length bytes for a key.
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |len, byte| (len << 8) | usize::from(*byte));
        (len, rest)
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_elements_split_in_short_and_long_form() {
        assert_eq!(
            tlv(&[0x04, 0x02, 0xaa, 0xbb, 0xcc], 0x04),
            Some((&[0xaa, 0xbb][..], &[0xcc][..]))
        );
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        assert_eq!(
            tlv(&long, 0x04).map(|(c, r)| (c.len(), r.len())),
            Some((256, 0))
        );
        assert_eq!(tlv(&[0x04, 0x05, 0x00], 0x04), None, "truncated");
        assert_eq!(tlv(&[0x02, 0x01, 0x00], 0x04), None, "wrong tag");
        assert_eq!(tlv(&[0x04, 0x80], 0x04), None, "indefinite length");
    }

    #[tokio::test]
    async fn a_generated_key_opens_only_with_its_kid_and_its_own_public_key() {
        let master =
            crate::crypto::MasterKey::from_base64(&crate::crypto::MasterKey::generate_base64())
                .expect("random key");
        let aead = Wrapping::derive(&master.clone().into(), "signing-keys");
        let key = generate(&aead).await.expect("generates");
        let other = generate(&aead).await.expect("generates");
        let kek = Some(&key.kek_id);

        let opened =
            open(&aead, kek, &key.kid, &key.sealed_private, &key.public_der).expect("opens");

        assert_eq!(opened.public.n.len(), 384);
        assert_eq!(opened.public.e, [1, 0, 1]);
        let signature = jsonwebtoken::crypto::sign(
            b"message",
            &opened.encoding,
            jsonwebtoken::Algorithm::RS256,
        )
        .expect("the PKCS#1 key signs");
        let verifies = jsonwebtoken::crypto::verify(
            &signature,
            b"message",
            &jsonwebtoken::DecodingKey::from_rsa_der(&key.public_der),
            jsonwebtoken::Algorithm::RS256,
        );
        assert!(verifies.expect("verifies"));
        assert_eq!(key.kek_id, master.kek_id());
        assert!(open(&aead, kek, &other.kid, &key.sealed_private, &key.public_der).is_err());
        assert!(open(&aead, kek, &key.kid, &key.sealed_private, &other.public_der).is_err());
        let wrong_master = Wrapping::derive(
            &crate::crypto::MasterKey::from_base64(&crate::crypto::MasterKey::generate_base64())
                .expect("random key")
                .into(),
            "signing-keys",
        );
        assert!(matches!(
            open(
                &wrong_master,
                kek,
                &key.kid,
                &key.sealed_private,
                &key.public_der
            ),
            Err(KeyError::MasterKeyMissing { .. })
        ));
        assert!(
            open(
                &wrong_master,
                None,
                &key.kid,
                &key.sealed_private,
                &key.public_der
            )
            .is_err()
        );
    }

    #[test]
    fn kids_are_random_url_safe_and_fit_the_column() {
        let (a, b) = (new_kid(), new_kid());
        assert_ne!(a, b);
        assert_eq!(a.len(), 22);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
    }
}
