//! `patient-read-dpop`: what DPoP (RFC 9449) costs a patient read, as an A/B in one run. The
//! same ADMIN reads the same seeded patients with a bearer token (A) and with a DPoP-bound token
//! and a fresh ES256 (or, with `--eddsa`, EdDSA) proof per request (B), in pairs of equal
//! duration (A first in odd pairs, B first in even ones), so that whatever else the machine
//! does, and whatever grows over the run, falls on both sides alike.
//!
//! What B adds on the server: parsing the proof, one signature verification (the header's
//! checks, key and RFC 7638 thumbprint are cached per client key), the `ath` hash, and the
//! `(jkt, jti)` replay check (in process here; a Redis round trip with `HAVEN_REDIS_URL`). On
//! the client (this tool, on the same cores): one signature per request, unless `--presign`
//! signs them before the B side. Both are in the figures; the client's share is reported
//! separately as its CPU time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hyper::{Method, StatusCode};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Report, cpu_text, errors_text, labelled, latency_text};
use crate::cli::PatientReadDpopArgs;
use crate::cpu;
use crate::http::Api;
use crate::load::{self, LoadReport};
use crate::seed::{self, PASSWORD};
use crate::target::Target;

const PATIENTS: &str = "/api/patients";
const SEED_PARALLEL: usize = 8;

/// A client key and the proofs it signs.
struct Prover {
    key: EncodingKey,
    algorithm: Algorithm,
    header: String,
    /// The public base URL the proofs name (`htu`).
    base: String,
}

impl Prover {
    /// A new P-256 key, or an Ed25519 key with `eddsa`.
    fn new(base: &str, eddsa: bool) -> anyhow::Result<Self> {
        let (key, algorithm) = if eddsa {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8v1(&SystemRandom::new())
                .map_err(|_| anyhow::anyhow!("generating an Ed25519 key"))?;
            (EncodingKey::from_ed_der(pkcs8.as_ref()), Algorithm::EdDSA)
        } else {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &SystemRandom::new(),
            )
            .map_err(|_| anyhow::anyhow!("generating a P-256 key"))?;
            (EncodingKey::from_ec_der(pkcs8.as_ref()), Algorithm::ES256)
        };
        let mut jwk = serde_json::to_value(Jwk::from_encoding_key(&key, algorithm)?)?;
        if let Some(object) = jwk.as_object_mut() {
            object.retain(|k, _| matches!(k.as_str(), "kty" | "crv" | "x" | "y"));
        }
        // `Algorithm` serializes to its JOSE name (`ES256`, `EdDSA`).
        let header = json!({ "typ": "dpop+jwt", "alg": algorithm, "jwk": jwk });
        Ok(Self {
            key,
            algorithm,
            header: URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    fn proof(&self, method: &str, path: &str, extra: &[(&str, Value)]) -> anyhow::Result<String> {
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": format!("{}{path}", self.base),
            "iat": SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs(),
        });
        for (k, v) in extra {
            claims[*k] = v.clone();
        }
        let input = format!(
            "{}.{}",
            self.header,
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?)
        );
        let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &self.key, self.algorithm)?;
        Ok(format!("{input}.{signature}"))
    }
}

/// Logs `email` in with a proof (the nonce round first); answers the bound access token.
async fn login(api: &Api, prover: &Prover, email: &str) -> anyhow::Result<String> {
    let body = hyper::body::Bytes::from(serde_json::to_vec(
        &json!({ "email": email, "password": PASSWORD }),
    )?);
    let first = api
        .send_with(
            Method::POST,
            "/api/auth/login",
            Some(body.clone()),
            None,
            Some(&prover.proof("POST", "/api/auth/login", &[])?),
        )
        .await?;
    let nonce = first
        .dpop_nonce
        .context("the login without a nonce answered no DPoP-Nonce")?;
    let proof = prover.proof("POST", "/api/auth/login", &[("nonce", json!(nonce))])?;
    let answer = api
        .send_with(
            Method::POST,
            "/api/auth/login",
            Some(body),
            None,
            Some(&proof),
        )
        .await?
        .json(StatusCode::OK, "logging in with DPoP")?;
    anyhow::ensure!(
        answer["tokenType"] == "DPoP",
        "the login answered a {} token",
        answer["tokenType"]
    );
    answer["token"]
        .as_str()
        .map(str::to_owned)
        .context("the login answer has no token")
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Proofs signed before a B load: (index of the path, proof), taken in order.
type Presigned = Arc<Vec<(usize, String)>>;

/// One side of a pair: its load and the CPU it took.
struct Side {
    load: LoadReport,
    cpu: cpu::Usage,
}

/// Runs the A/B and reports both sides, pair by pair and summed.
pub async fn run(target: &Target, args: &PatientReadDpopArgs) -> anyhow::Result<Report> {
    let concurrency = usize::from(args.load.concurrency);
    let org = seed::organization(target).await?;
    let ids = seed::patients(
        &target.api,
        &org,
        0,
        u64::from(args.patients),
        SEED_PARALLEL,
    )
    .await?;
    let paths: Arc<Vec<String>> =
        Arc::new(ids.iter().map(|id| format!("{PATIENTS}/{id}")).collect());
    let api = Api::new(target.api.base())?;
    let prover = Arc::new(Prover::new(target.api.base(), args.eddsa)?);
    let admin_email = seed::admin_email(&org.run);
    let bound: Arc<str> = Arc::from(login(&api, &prover, &admin_email).await?);
    let bearer: Arc<str> = Arc::from(org.admin_token.as_str());
    let draws = Arc::new(AtomicU64::new(0x5EED));

    let read_bearer = {
        let (api, token, paths, draws) = (api.clone(), bearer, paths.clone(), draws.clone());
        move |_client: usize| {
            let (api, token, paths) = (api.clone(), Arc::clone(&token), Arc::clone(&paths));
            let pick = splitmix64(draws.fetch_add(1, Ordering::Relaxed)) % paths.len() as u64;
            async move {
                let path = &paths[usize::try_from(pick)?];
                Ok(api.get_with(path, &token).await?.status)
            }
        }
    };
    let ath = URL_SAFE_NO_PAD.encode(Sha256::digest(bound.as_bytes()));
    // With --presign: (path index, proof) pairs signed before each B load, taken in order.
    let presigned: Arc<std::sync::RwLock<Presigned>> = Arc::default();
    let next_presigned = Arc::new(AtomicU64::new(0));
    let read_dpop = {
        let (api, token, paths, draws) = (api.clone(), bound, paths.clone(), draws.clone());
        let authorization: Arc<str> = Arc::from(format!("DPoP {token}"));
        let (presigned, next_presigned) = (Arc::clone(&presigned), Arc::clone(&next_presigned));
        let prover = Arc::clone(&prover);
        let ath = ath.clone();
        move |_client: usize| {
            let (api, paths, prover) = (api.clone(), Arc::clone(&paths), Arc::clone(&prover));
            let authorization = Arc::clone(&authorization);
            let ready = presigned
                .read()
                .map(|batch| Arc::clone(&batch))
                .unwrap_or_default();
            let slot = next_presigned.fetch_add(1, Ordering::Relaxed);
            let pick = splitmix64(draws.fetch_add(1, Ordering::Relaxed)) % paths.len() as u64;
            let ath = ath.clone();
            async move {
                let (path, proof) = match usize::try_from(slot).ok().and_then(|i| ready.get(i)) {
                    Some((index, proof)) => (&paths[*index], proof.clone()),
                    None => {
                        let path = &paths[usize::try_from(pick)?];
                        (path, prover.proof("GET", path, &[("ath", json!(ath))])?)
                    }
                };
                let answer = api
                    .send_with(Method::GET, path, None, Some(&authorization), Some(&proof))
                    .await?;
                Ok(answer.status)
            }
        }
    };

    // A goes first in odd pairs and B in even ones, so that a drift of the machine or of the
    // database over the run (tables and the replay store grow) weighs on both sides alike.
    let mut pairs = Vec::new();
    let mut last_a_ok = None;
    for pair in 0..args.pairs {
        let a_first = pair % 2 == 0;
        let mut a = None;
        if a_first {
            let side_a = side(target, concurrency, args.load.duration, &read_bearer).await?;
            last_a_ok = Some(side_a.load.ok);
            a = Some(side_a);
        }
        if args.presign {
            // A's pace plus half again: enough for B unless DPoP is free.
            let a_ok = last_a_ok.context("the first pair measures A first")?;
            let count = a_ok + a_ok / 2 + 100;
            let mut batch = Vec::with_capacity(usize::try_from(count)?);
            for n in 0..count {
                let index = usize::try_from(
                    splitmix64(n ^ 0xD0_F0 ^ u64::from(pair) << 40) % paths.len() as u64,
                )?;
                batch.push((
                    index,
                    prover.proof("GET", &paths[index], &[("ath", json!(ath))])?,
                ));
            }
            *presigned
                .write()
                .map_err(|_| anyhow::anyhow!("presigned proofs poisoned"))? = Arc::new(batch);
            next_presigned.store(0, Ordering::Relaxed);
        }
        let b = side(target, concurrency, args.load.duration, &read_dpop).await?;
        // A refused proof is a broken client or server, not a figure.
        anyhow::ensure!(
            b.load.ok > 0 && !b.load.errors.contains_key("401"),
            "DPoP reads were refused: {:?}",
            b.load.errors
        );
        let a = match a {
            Some(a) => a,
            None => {
                let side_a = side(target, concurrency, args.load.duration, &read_bearer).await?;
                last_a_ok = Some(side_a.load.ok);
                side_a
            }
        };
        pairs.push((a, b));
    }
    Ok(report(args, &mut pairs))
}

async fn side<F, Fut>(
    target: &Target,
    concurrency: usize,
    duration: Duration,
    request: &F,
) -> anyhow::Result<Side>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<StatusCode>> + Send,
{
    let (before, started) = (target.cpu_snapshot(), Instant::now());
    let load = load::run(concurrency, duration, StatusCode::OK, request.clone()).await?;
    let cpu = cpu::Usage::between(before, target.cpu_snapshot(), started.elapsed());
    // Let the sealer catch up so that B does not pay for A's backlog.
    tokio::time::sleep(Duration::from_millis(500)).await;
    Ok(Side { load, cpu })
}

fn report(args: &PatientReadDpopArgs, pairs: &mut [(Side, Side)]) -> Report {
    let sum = |pick: fn(&(Side, Side)) -> &Side| -> (u64, f64) {
        pairs.iter().map(pick).fold((0, 0.0), |(ok, secs), side| {
            (ok + side.load.ok, secs + side.load.elapsed.as_secs_f64())
        })
    };
    let (a_ok, a_secs) = sum(|p| &p.0);
    let (b_ok, b_secs) = sum(|p| &p.1);
    let a_rate = a_ok as f64 / a_secs.max(1e-9);
    let b_rate = b_ok as f64 / b_secs.max(1e-9);
    let cost = 100.0 * (1.0 - b_rate / a_rate.max(1e-9));
    let mut rows: Vec<(String, String)> = labelled(vec![
        (
            "scenario",
            format!(
                "patient-read-dpop: ADMIN, GET /api/patients/{{id}} of {} patients, {} clients, \
                 {} pair(s) of {:?}: A bearer, B DPoP ({} proof per request, {})",
                args.patients,
                args.load.concurrency,
                pairs.len(),
                args.load.duration,
                if args.eddsa { "an EdDSA" } else { "an ES256" },
                if args.presign {
                    "signed by the client before the load"
                } else {
                    "signed by the client during the load, on the same cores"
                }
            ),
        ),
        ("A bearer reads/s", format!("{a_rate:.0}")),
        ("B DPoP reads/s", format!("{b_rate:.0}")),
        (
            "DPoP cost",
            format!("{cost:.1}% of the read throughput (target < 10%)"),
        ),
    ]);
    let mut json_pairs = Vec::new();
    for (n, (a, b)) in pairs.iter_mut().enumerate() {
        for (name, side) in [("A", &mut *a), ("B", &mut *b)] {
            rows.push((
                format!("pair {} {name}", n + 1),
                format!(
                    "{:.0}/s, {}, errors {}, {}",
                    side.load.ok_per_sec(),
                    latency_text(side.load.latencies.summary()),
                    errors_text(&side.load.errors),
                    cpu_text(&side.cpu, side.load.elapsed, side.load.ok, "read")
                ),
            ));
        }
        json_pairs.push(json!({
            "bearerPerSec": a.load.ok_per_sec(),
            "dpopPerSec": b.load.ok_per_sec(),
            "bearerErrors": a.load.errors,
            "dpopErrors": b.load.errors,
            "bearerCpu": a.cpu.to_json(),
            "dpopCpu": b.cpu.to_json(),
        }));
    }
    Report {
        rows,
        json: json!({
            "scenario": "patient-read-dpop",
            "concurrency": args.load.concurrency,
            "patients": args.patients,
            "bearerPerSec": a_rate,
            "dpopPerSec": b_rate,
            "costPercent": cost,
            "presigned": args.presign,
            "proofAlgorithm": if args.eddsa { "EdDSA" } else { "ES256" },
            "pairs": json_pairs,
        }),
    }
}
