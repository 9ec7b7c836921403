//! Tests of the Redis store. Those needing a server use `HAVEN_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`) and skip, saying so, when none answers, except in CI (`CI=true`),
//! where they fail (`haven_testkit::services`). Each run uses its own key prefix and deletes its
//! keys; the windows are short, so even a crashed run leaves nothing.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use secrecy::SecretString;

use super::{Health, RedisLimiter, SCRIPT};
use crate::ratelimit::memory::MemoryLimiter;
use crate::ratelimit::{RateLimitError, RateLimiter, Store};

fn redis_url() -> SecretString {
    haven_testkit::services::redis_url().into()
}

/// A limiter on the test server under a fresh prefix, or `None` (and a note) without one; in CI
/// a missing server fails the test.
async fn limiter_or_skip(prefix: &str, test: &str) -> Option<RateLimiter> {
    match RateLimiter::redis(&redis_url(), prefix).await {
        Ok(limiter) => Some(limiter),
        Err(error) => {
            haven_testkit::services::unavailable(test, "Redis", &error);
            None
        }
    }
}

fn unique_prefix() -> String {
    format!("haven:rl:test-{}", uuid::Uuid::new_v4())
}

async fn purge(limiter: &RateLimiter) {
    if let Store::Redis(redis) = &*limiter.0 {
        redis.purge().await.expect("delete the test keys");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn exactly_the_limit_of_concurrent_hits_is_allowed_in_redis() {
    let prefix = unique_prefix();
    let Some(limiter) = limiter_or_skip(&prefix, "redis concurrency").await else {
        return;
    };
    let allowed = Arc::new(AtomicU32::new(0));

    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let (limiter, allowed) = (limiter.clone(), Arc::clone(&allowed));
            tokio::spawn(async move {
                let decision = limiter
                    .hit("auth:198.51.100.1", 50, Duration::from_secs(60))
                    .await
                    .expect("hit");
                if decision.allowed {
                    allowed.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task");
    }

    assert_eq!(allowed.load(Ordering::SeqCst), 50);
    purge(&limiter).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn two_instances_share_one_count() {
    let prefix = unique_prefix();
    let Some(first) = limiter_or_skip(&prefix, "redis sharing").await else {
        return;
    };
    let second = RateLimiter::redis(&redis_url(), &prefix)
        .await
        .expect("second instance");
    let window = Duration::from_secs(60);

    let mut tasks = Vec::new();
    for i in 0..100 {
        let limiter = if i % 2 == 0 { &first } else { &second }.clone();
        tasks.push(tokio::spawn(async move {
            limiter
                .hit("login:x", 30, window)
                .await
                .expect("hit")
                .allowed
        }));
    }
    let mut allowed = 0;
    for task in tasks {
        allowed += u32::from(task.await.expect("task"));
    }

    assert_eq!(allowed, 30);
    let next = second.hit("login:x", 30, window).await.expect("hit");
    assert!(!next.allowed);
    assert!(next.retry_after <= window && next.retry_after > Duration::from_secs(50));
    assert_eq!(next.remaining, 0);
    purge(&first).await;
}

#[tokio::test]
async fn a_redis_window_ends_and_counting_starts_again() {
    let prefix = unique_prefix();
    let Some(limiter) = limiter_or_skip(&prefix, "redis expiry").await else {
        return;
    };
    let window = Duration::from_millis(200);
    assert!(limiter.hit("auth:a", 1, window).await.expect("hit").allowed);
    assert!(!limiter.hit("auth:a", 1, window).await.expect("hit").allowed);

    tokio::time::sleep(Duration::from_millis(300)).await;

    assert!(limiter.hit("auth:a", 1, window).await.expect("hit").allowed);
    purge(&limiter).await;
}

#[tokio::test]
async fn an_unreachable_redis_fails_start_up_quickly() {
    let started = Instant::now();

    // Port 1 is closed on any sane machine: the connection is refused at once.
    let url = SecretString::from("redis://127.0.0.1:1");
    let result = RateLimiter::redis(&url, "haven:rl").await;

    assert!(result.is_err(), "connected to port 1?");
    assert!(started.elapsed() < Duration::from_secs(6));
}

#[tokio::test]
async fn a_malformed_url_is_refused_without_echoing_it() {
    let url = SecretString::from("not a url:hunter2");
    let error = RateLimiter::redis(&url, "haven:rl")
        .await
        .expect_err("not a URL");
    assert!(matches!(error, RateLimitError::InvalidUrl(_)), "{error}");
    assert!(!error.to_string().contains("hunter2"));
}

#[tokio::test]
async fn a_redis_outage_falls_back_to_counting_in_process() {
    // A store whose server vanished after start-up: every call fails.
    let client = Client::open("redis://127.0.0.1:1").expect("url");
    let config = ConnectionManagerConfig::new().set_number_of_retries(0);
    let store = RedisLimiter {
        connection: ConnectionManager::new_lazy_with_config(client, config).expect("lazy"),
        script: Script::new(SCRIPT),
        prefix: "haven:rl:test".to_owned(),
        fallback: MemoryLimiter::new(),
        health: Health::new(),
    };
    let window = Duration::from_secs(60);

    let decisions = [
        store.hit("k", 2, window).await,
        store.hit("k", 2, window).await,
        store.hit("k", 2, window).await,
    ];

    assert_eq!(decisions.map(|d| d.allowed), [true, true, false]);
    assert!(
        store.health.backing_off(),
        "Redis is skipped after a failure"
    );
}
