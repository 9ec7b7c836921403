//! `realtime` (issue 20, SPEC §10): `--sockets` WebSockets open on one Haven — five per
//! SCHEDULER, the per-user limit — while the practice's SCHEDULER books appointments through
//! the API (`--rate` bookings/s, open loop; default 20). Every socket hears every booking as
//! `appointment.booked`.
//!
//! Reported: the delivery latency of each event to each socket, from the booking's 201 (its
//! transaction had committed) to the frame's arrival, as exact percentiles over every delivery;
//! the deliveries that never came; and the haven process's RSS before the sockets, with them
//! open, and after the load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use hyper::StatusCode;
use hyper::body::Bytes;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

use super::booking::Practice;
use super::{Report, errors_text, labelled, latency_text};
use crate::cli::{PracticeArgs, RealtimeArgs};
use crate::histogram::Histogram;
use crate::http::Api;
use crate::load;
use crate::memory::{Memory, mib};
use crate::seed;
use crate::target::Target;

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Sockets one user may hold (SPEC §8).
const PER_USER: usize = 5;
/// Bookings per second when `--rate` is not given.
const DEFAULT_RATE: f64 = 20.0;
/// How long after the load the sockets may take to hear the last bookings.
const DRAIN: Duration = Duration::from_secs(15);

/// When each booking's 201 arrived, by appointment id.
type Commits = Arc<Mutex<HashMap<Uuid, Instant>>>;

/// What one socket heard: delivery latencies, and arrivals of bookings whose 201 had not been
/// seen yet (resolved at the end).
#[derive(Default)]
struct Heard {
    latencies: Histogram,
    early: Vec<(Uuid, Instant)>,
}

/// Runs the scenario (see the module documentation).
pub async fn run(target: &Target, args: &RealtimeArgs) -> anyhow::Result<Report> {
    let api = &target.api;
    let practice = Arc::new(
        Practice::seed(
            target,
            &PracticeArgs {
                clinicians: 10,
                patients: 10,
            },
            true,
        )
        .await?,
    );
    let sockets_wanted = args.sockets as usize;
    let users = sockets_wanted.div_ceil(PER_USER);
    let accounts = seed::users(api, &practice.org, "SCHEDULER", users).await?;
    let mut tokens = Vec::with_capacity(users);
    for account in &accounts {
        tokens.push(seed::login(api, &account.email, &account.password).await?);
    }
    let before = target.memory();

    let ws_base = api.base().replacen("http://", "ws://", 1);
    let mut sockets = Vec::with_capacity(sockets_wanted);
    for n in 0..sockets_wanted {
        let token = &tokens[n / PER_USER];
        let ticket = api
            .post("/api/realtime/tickets", &json!({}), Some(token))
            .await?
            .json(StatusCode::CREATED, "issuing a realtime ticket")?;
        let ticket = ticket["ticket"].as_str().context("a ticket")?;
        let mut request =
            format!("{ws_base}/api/realtime?ticket={ticket}").into_client_request()?;
        request.headers_mut().insert("origin", api.base().parse()?);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("opening socket {n}"))?;
        sockets.push(socket);
    }
    let with_sockets = target.memory();

    let commits: Commits = Arc::default();
    let delivered = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(tokio::sync::Notify::new());
    let mut listeners = JoinSet::new();
    for socket in sockets {
        let (commits, delivered, stop) = (
            Arc::clone(&commits),
            Arc::clone(&delivered),
            Arc::clone(&stop),
        );
        listeners.spawn(listen(socket, commits, delivered, stop));
    }

    let mut load_args = args.load.clone();
    load_args.rate = Some(args.load.rate.unwrap_or(DEFAULT_RATE));
    let next = Arc::new(AtomicU64::new(0));
    let booking_api = Api::new(api.base())?;
    let load = {
        let (practice, commits) = (Arc::clone(&practice), Arc::clone(&commits));
        load::drive(&load_args, StatusCode::CREATED, move |_| {
            let (api, practice, commits) = (
                booking_api.clone(),
                Arc::clone(&practice),
                Arc::clone(&commits),
            );
            let body = Bytes::from(
                practice
                    .booking(next.fetch_add(1, Ordering::Relaxed))
                    .to_string(),
            );
            async move {
                let answer = api
                    .post_raw("/api/appointments", body, Some(&practice.scheduler_token))
                    .await?;
                if answer.status == StatusCode::CREATED {
                    let at = Instant::now();
                    let value: Value = serde_json::from_slice(&answer.body)?;
                    let id: Uuid = value["appointment"]["id"]
                        .as_str()
                        .context("the booking's id")?
                        .parse()?;
                    commits.lock().expect("the commits lock").insert(id, at);
                }
                Ok(answer.status)
            }
        })
        .await?
    };
    let booked = commits.lock().expect("the commits lock").len() as u64;
    let expected = booked * u64::from(args.sockets);
    let drain_started = Instant::now();
    while delivered.load(Ordering::Relaxed) < expected && drain_started.elapsed() < DRAIN {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = target.memory();
    stop.notify_waiters();
    let mut latencies = Histogram::new();
    let mut unresolved = 0_u64;
    while let Some(heard) = listeners.join_next().await {
        let heard = heard?;
        latencies.merge(heard.latencies);
        let commits = commits.lock().expect("the commits lock");
        for (id, arrived) in heard.early {
            match commits.get(&id) {
                // Heard before the client had read its 201: no later than the commit, so ~0.
                Some(at) => latencies.record(arrived.saturating_duration_since(*at)),
                None => unresolved += 1,
            }
        }
    }
    let deliveries = latencies.count() as u64;
    let missing = expected.saturating_sub(deliveries);
    let summary = latencies.summary();
    let rows = vec![
        (
            "scenario",
            format!(
                "realtime: {} sockets ({} SCHEDULERs × {PER_USER}) while a SCHEDULER books; {}",
                args.sockets,
                users,
                load::mode_text(&load_args, "bookings")
            ),
        ),
        (
            "bookings",
            format!(
                "{} ({} booked; errors: {})",
                load.requests,
                load.ok,
                errors_text(&load.errors)
            ),
        ),
        (
            "deliveries",
            format!(
                "{deliveries} of {expected} expected ({missing} missing, {unresolved} for \
                 bookings that failed)"
            ),
        ),
        ("delivery latency", latency_text(summary)),
        (
            "memory",
            format!(
                "haven RSS before the sockets {}, with them open {}, after the load {} (peak {})",
                rss(before),
                rss(with_sockets),
                rss(after),
                after.map_or("-".to_owned(), |m| format!("{:.1} MiB", mib(m.peak_kib)))
            ),
        ),
    ];
    let json = json!({
        "scenario": "realtime",
        "target": target.to_json(),
        "sockets": args.sockets,
        "bookings": load.requests,
        "booked": load.ok,
        "errors": load.errors,
        "expectedDeliveries": expected,
        "deliveries": deliveries,
        "missing": missing,
        "latency": summary.to_json(),
        "memory": {
            "beforeSockets": crate::memory::to_json(before),
            "withSockets": crate::memory::to_json(with_sockets),
            "after": crate::memory::to_json(after),
        },
    });
    if booked == 0 {
        bail!("no booking succeeded\n{json}");
    }
    if missing != 0 {
        bail!("{missing} deliveries never came\n{json}");
    }
    Ok(Report {
        rows: labelled(rows),
        json,
    })
}

/// Reads `socket` until `stop`: each `appointment.booked` is timed against its 201.
async fn listen(
    mut socket: Socket,
    commits: Commits,
    delivered: Arc<AtomicU64>,
    stop: Arc<tokio::sync::Notify>,
) -> Heard {
    let mut heard = Heard::default();
    let stopped = stop.notified();
    tokio::pin!(stopped);
    stopped.as_mut().enable();
    loop {
        let frame = tokio::select! {
            () = &mut stopped => break,
            frame = socket.next() => frame,
        };
        let Some(Ok(Message::Text(text))) = frame else {
            if matches!(frame, None | Some(Err(_))) {
                break;
            }
            continue;
        };
        let arrived = Instant::now();
        let Ok(value) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if value["type"] != "event" || value["event"] != "appointment.booked" {
            continue;
        }
        let Some(id) = value["entityId"].as_str().and_then(|id| id.parse().ok()) else {
            continue;
        };
        delivered.fetch_add(1, Ordering::Relaxed);
        let committed = commits.lock().expect("the commits lock").get(&id).copied();
        match committed {
            Some(at) => heard
                .latencies
                .record(arrived.saturating_duration_since(at)),
            None => heard.early.push((id, arrived)),
        }
    }
    let _ = socket.close(None).await;
    heard
}

fn rss(memory: Option<Memory>) -> String {
    memory.map_or("-".to_owned(), |m| format!("{:.1} MiB", mib(m.rss_kib)))
}
