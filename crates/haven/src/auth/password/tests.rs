//! Tests of hashing and verification: formats, parameters, legacy bcrypt, the pool's bound and
//! the dummy hash's timing.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::*;

fn secret(text: &str) -> SecretString {
    SecretString::from(text)
}

fn hasher(threads: usize) -> PasswordHasher {
    PasswordHasher::new(Argon2Params::default(), threads).expect("valid parameters")
}

#[test]
fn the_synchronous_functions_hash_argon2id_and_verify() {
    let password = secret("correct horse battery staple");
    let phc = hash(&password).expect("hashes");
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(verify(&password, &phc));
    assert!(!verify(&secret("wrong"), &phc));
    assert!(!verify(&password, "not a hash"));
}

#[test]
fn generated_passwords_differ_and_are_long() {
    let a = generate();
    let b = generate();
    assert_eq!(a.expose_secret().len(), 24);
    assert_ne!(a.expose_secret(), b.expose_secret());
}

#[tokio::test]
async fn an_argon2id_hash_round_trips_with_the_configured_parameters() {
    let hasher = hasher(2);
    let phc = hasher
        .hash(secret("violet anchor mumble"))
        .await
        .expect("hashes");
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");

    let right = hasher
        .verify(secret("violet anchor mumble"), phc.clone())
        .await;
    assert_eq!(
        right,
        Verification {
            matches: true,
            needs_rehash: false
        }
    );
    let wrong = hasher.verify(secret("violet anchor mumblE"), phc).await;
    assert_eq!(wrong, Verification::NO_MATCH);
}

#[tokio::test]
async fn other_parameters_are_configurable_and_weaker_hashes_need_a_rehash() {
    let stronger = Argon2Params {
        iterations: 3,
        ..Argon2Params::default()
    };
    let strong = PasswordHasher::new(stronger, 1).expect("valid parameters");
    let phc = strong.hash(secret("a passphrase")).await.expect("hashes");
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=3,p=1$"), "{phc}");

    let weak = hash(&secret("a passphrase")).expect("hashes");
    let verification = strong.verify(secret("a passphrase"), weak.clone()).await;
    assert!(verification.matches && verification.needs_rehash);
    // A wrong password never asks for a rehash.
    let wrong = strong.verify(secret("another passphrase"), weak).await;
    assert_eq!(wrong, Verification::NO_MATCH);
}

#[tokio::test]
async fn legacy_bcrypt_hashes_verify_under_every_prefix_and_need_a_rehash() {
    let hasher = hasher(2);
    let bcrypt_2b = bcrypt::hash("legacy password", 4).expect("bcrypt hashes");
    assert!(bcrypt_2b.starts_with("$2b$04$"), "{bcrypt_2b}");
    let rest = &bcrypt_2b[3..];
    for stored in [
        bcrypt_2b.clone(),
        format!("$2y{rest}"),
        format!("$2a{rest}"),
    ] {
        let right = hasher
            .verify(secret("legacy password"), stored.clone())
            .await;
        assert_eq!(
            right,
            Verification {
                matches: true,
                needs_rehash: true
            },
            "{stored}"
        );
        let wrong = hasher.verify(secret("legacy passworD"), stored).await;
        assert_eq!(wrong, Verification::NO_MATCH);
    }
    // `$2x$` (a buggy old PHP variant) is not among the formats Haven accepts.
    let x = hasher
        .verify(secret("legacy password"), format!("$2x{rest}"))
        .await;
    assert_eq!(x, Verification::NO_MATCH);
}

#[tokio::test]
async fn placeholders_and_unknown_formats_never_match() {
    let hasher = hasher(2);
    for stored in [
        "",
        "!",
        "*",
        "$1$salt$abc",
        "$argon2id$v=19$garbage",
        "$argon2id$v=19$m=19456,t=2,p=1",
        "plain text",
    ] {
        let verification = hasher
            .verify(secret("anything at all"), stored.into())
            .await;
        assert_eq!(verification, Verification::NO_MATCH, "{stored:?}");
    }
    hasher.verify_dummy(secret("anything at all")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_more_hashes_run_at_once_than_the_pool_has_threads() {
    let hasher = hasher(2);
    let jobs: Vec<_> = (0..8)
        .map(|i| {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash(secret(&format!("password {i}"))).await })
        })
        .collect();
    for job in jobs {
        job.await.expect("joins").expect("hashes");
    }
    assert_eq!(hasher.peak_in_flight(), 2);
    assert_eq!(hasher.in_flight(), 0);
}

#[tokio::test]
async fn queued_hashes_do_not_block_the_runtime() {
    // A current-thread runtime: hashing on its one worker would stall the timer task below
    // until every hash spawned before it had finished.
    let hasher = hasher(1);
    let finished = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..16)
        .map(|i| {
            let (hasher, finished) = (hasher.clone(), Arc::clone(&finished));
            tokio::spawn(async move {
                hasher
                    .hash(secret(&format!("password {i}")))
                    .await
                    .expect("hashes");
                finished.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();

    tokio::spawn(tokio::time::sleep(Duration::from_millis(1)))
        .await
        .expect("the timer task runs");
    assert!(
        finished.load(Ordering::SeqCst) < 16,
        "the sleep waited for the hashes"
    );

    for job in jobs {
        job.await.expect("joins");
    }
    assert_eq!(finished.load(Ordering::SeqCst), 16);
    assert_eq!(hasher.peak_in_flight(), 1);
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::test]
async fn unknown_users_cost_about_as_much_as_known_ones() {
    let hasher = hasher(1);
    let phc = hasher.hash(secret("the real one")).await.expect("hashes");
    let (mut real, mut dummy, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..10 {
        let start = Instant::now();
        let _ = hasher.verify(secret("a wrong guess"), phc.clone()).await;
        real.push(start.elapsed());

        let start = Instant::now();
        hasher.verify_dummy(secret("a wrong guess")).await;
        dummy.push(start.elapsed());

        let start = Instant::now();
        let _ = hasher.verify(secret("a wrong guess"), "!".into()).await;
        unknown.push(start.elapsed());
    }
    let (real, dummy, unknown) = (median(real), median(dummy), median(unknown));
    // Loose on purpose: the point is "one Argon2id run each", not a precise measurement.
    for (name, other) in [("dummy", dummy), ("unknown", unknown)] {
        assert!(
            other * 2 >= real && other <= real * 2,
            "{name} {other:?} vs real {real:?}"
        );
    }
}
