use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;

use super::*;

fn random_key() -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).expect("OS RNG");
    STANDARD.encode(key)
}

#[test]
fn defaults_are_embedded_development_on_localhost() {
    let config = Config::from(&Env::default()).expect("valid");

    assert_eq!(config.environment, Environment::Development);
    assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
    assert_eq!(
        config.metrics_bind.map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9464")
    );
    assert_eq!(config.data_dir, PathBuf::from(".haven"));
    assert!(matches!(
        config.database,
        DatabaseConfig::Embedded {
            pg_bin_dir: None,
            ..
        }
    ));
    assert!(matches!(
        config.master_key,
        MasterKeySource::Generate { .. }
    ));
    assert_eq!(config.request_timeout, Duration::from_secs(30));
    assert_eq!(config.log_format, LogFormat::Json);
}

#[test]
fn an_external_database_takes_both_urls() {
    let env = Env::from_pairs([
        ("HAVEN_DATABASE_URL", "postgres://app:pw@db/haven"),
        ("HAVEN_MIGRATE_DATABASE_URL", "postgres://owner:pw@db/haven"),
    ]);

    let config = Config::from(&env).expect("valid");

    let DatabaseConfig::External { url, migrate_url } = &config.database else {
        panic!("expected an external database");
    };
    assert_eq!(url.expose_secret(), "postgres://app:pw@db/haven");
    assert!(migrate_url.is_some());
}

#[test]
fn a_migrate_url_without_a_runtime_url_is_refused() {
    let env = Env::from_pairs([("HAVEN_MIGRATE_DATABASE_URL", "postgres://owner@db/haven")]);

    let error = Config::from(&env).expect_err("refused");

    assert!(
        error.to_string().starts_with("HAVEN_MIGRATE_DATABASE_URL"),
        "{error}"
    );
}

#[test]
fn secrets_can_come_from_files_but_not_from_both_places() {
    let dir = std::env::temp_dir().join(format!("haven-cfg-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("url");
    std::fs::write(&file, "postgres://app:s3cret@db/haven\n").expect("write");
    let path = file.to_str().expect("utf-8 path");

    let from_file =
        Config::from(&Env::from_pairs([("HAVEN_DATABASE_URL_FILE", path)])).expect("valid");
    let DatabaseConfig::External { url, .. } = &from_file.database else {
        panic!("expected an external database");
    };
    assert_eq!(url.expose_secret(), "postgres://app:s3cret@db/haven");

    let both = Config::from(&Env::from_pairs([
        ("HAVEN_DATABASE_URL", "postgres://x@y/z"),
        ("HAVEN_DATABASE_URL_FILE", path),
    ]))
    .expect_err("ambiguous");
    assert!(both.to_string().contains("not both"), "{both}");
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn debug_output_redacts_every_secret() {
    let key = random_key();
    let env = Env::from_pairs([
        ("HAVEN_DATABASE_URL", "postgres://app:hunter2-db@db/haven"),
        ("HAVEN_MASTER_KEY", key.as_str()),
        ("HAVEN_BOOTSTRAP_PASSWORD", "hunter2-bootstrap-password"),
    ]);

    let shown = format!("{:?}", Config::from(&env).expect("valid"));

    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains(&key), "{shown}");
}

#[test]
fn bad_values_name_their_variable() {
    for (key, value) in [
        ("HAVEN_BIND", "not-an-address"),
        ("HAVEN_METRICS_BIND", "9464"),
        ("HAVEN_ENV", "staging"),
        ("HAVEN_LOG_FORMAT", "xml"),
        ("HAVEN_REQUEST_TIMEOUT_SECS", "0"),
        ("HAVEN_DB_MAX_CONNECTIONS", "1"),
        ("HAVEN_REALTIME_MAX_LIFETIME_SECS", "0"),
        ("HAVEN_REALTIME_MAX_LIFETIME_SECS", "43201"),
        ("HAVEN_REALTIME_MAX_LIFETIME_SECS", "an hour"),
        ("HAVEN_MASTER_KEY", "c2hvcnQ="),
    ] {
        let error = Config::from(&Env::from_pairs([(key, value)])).expect_err(key);
        assert!(error.to_string().starts_with(key), "{key}: {error}");
    }
}

#[test]
fn production_refuses_the_embedded_database() {
    let env = Env::from_pairs([
        ("HAVEN_ENV", "production"),
        ("HAVEN_PUBLIC_URL", "https://haven.example.org"),
        ("HAVEN_MASTER_KEY", &random_key()),
    ]);

    let error = Config::from(&env).expect_err("refused");

    assert!(error.to_string().contains("embedded database"), "{error}");
}

#[test]
fn production_refuses_a_generated_master_key() {
    let env = Env::from_pairs([
        ("HAVEN_ENV", "production"),
        ("HAVEN_PUBLIC_URL", "https://haven.example.org"),
        ("HAVEN_DATABASE_URL", "postgres://app@db/haven"),
    ]);

    let error = Config::from(&env).expect_err("refused");

    assert!(
        error.to_string().contains("generated master key"),
        "{error}"
    );
}

#[test]
fn production_refuses_a_weak_master_key() {
    let weak = STANDARD.encode([0x41u8; 32]);
    let env = Env::from_pairs([
        ("HAVEN_ENV", "production"),
        ("HAVEN_PUBLIC_URL", "https://haven.example.org"),
        ("HAVEN_DATABASE_URL", "postgres://app@db/haven"),
        ("HAVEN_MASTER_KEY", weak.as_str()),
    ]);

    let error = Config::from(&env).expect_err("refused");

    assert!(error.to_string().contains("weak"), "{error}");
}

#[test]
fn production_accepts_an_external_database_and_a_real_key() {
    let env = Env::from_pairs([
        ("HAVEN_ENV", "production"),
        ("HAVEN_PUBLIC_URL", "https://haven.example.org"),
        ("HAVEN_DATABASE_URL", "postgres://app@db/haven"),
        ("HAVEN_MASTER_KEY", &random_key()),
    ]);

    let config = Config::from(&env).expect("valid");

    assert!(config.is_production());
}

#[test]
fn the_metrics_listener_moves_or_turns_off() {
    let moved = Config::from(&Env::from_pairs([("HAVEN_METRICS_BIND", "0.0.0.0:9100")]))
        .expect("an address");
    let off = Config::from(&Env::from_pairs([("HAVEN_METRICS_BIND", "off")])).expect("off");

    assert_eq!(
        moved.metrics_bind.map(|a| a.to_string()).as_deref(),
        Some("0.0.0.0:9100")
    );
    assert_eq!(off.metrics_bind, None);
}

#[test]
fn production_needs_an_https_public_url() {
    let key = random_key();
    let base = [
        ("HAVEN_ENV", "production"),
        ("HAVEN_DATABASE_URL", "postgres://app@db/haven"),
        ("HAVEN_MASTER_KEY", key.as_str()),
    ];
    let missing = Config::from(&Env::from_pairs(base)).expect_err("refused");
    assert!(
        missing.to_string().contains("HAVEN_PUBLIC_URL"),
        "{missing}"
    );
    let mut plain = base.to_vec();
    plain.push(("HAVEN_PUBLIC_URL", "http://haven.example.org"));
    let plain = Config::from(&Env::from_pairs(plain)).expect_err("refused");
    assert!(plain.to_string().contains("https"), "{plain}");
    let mut query = base.to_vec();
    query.push(("HAVEN_PUBLIC_URL", "https://haven.example.org/?x=1"));
    let query = Config::from(&Env::from_pairs(query)).expect_err("refused");
    assert!(query.to_string().starts_with("HAVEN_PUBLIC_URL"), "{query}");
    let mut good = base.to_vec();
    good.push(("HAVEN_PUBLIC_URL", "HTTPS://Haven.Example.org:443/"));
    let good = Config::from(&Env::from_pairs(good)).expect("valid");
    assert_eq!(good.auth.public_url, "https://haven.example.org");
}

#[test]
fn a_realtime_socket_lives_12_hours_unless_told_less() {
    let default = Config::from(&Env::default()).expect("defaults");
    let short = Config::from(&Env::from_pairs([(
        "HAVEN_REALTIME_MAX_LIFETIME_SECS",
        "2",
    )]))
    .expect("2 s");
    assert_eq!(
        default.realtime_max_lifetime,
        Duration::from_secs(12 * 3600)
    );
    assert_eq!(short.realtime_max_lifetime, Duration::from_secs(2));
}

#[test]
fn a_previous_master_key_is_held_beside_the_master_key() {
    let (current, previous) = (random_key(), random_key());
    let env = Env::from_pairs([
        ("HAVEN_MASTER_KEY", current.as_str()),
        ("HAVEN_PREVIOUS_MASTER_KEY", previous.as_str()),
    ]);

    let keys = Config::from(&env)
        .expect("valid")
        .load_master_keys()
        .expect("loads");

    let expected = crate::crypto::MasterKey::from_base64(&previous).expect("key");
    assert_eq!(keys.older().len(), 1);
    assert_eq!(keys.origin().kek_id(), expected.kek_id());
}

#[test]
fn a_weak_or_doubly_set_or_repeated_previous_master_key_is_refused() {
    let key = random_key();
    let weak = STANDARD.encode([0x41u8; 32]);
    let weak_env = Env::from_pairs([("HAVEN_PREVIOUS_MASTER_KEY", weak.as_str())]);
    let both = Env::from_pairs([
        ("HAVEN_PREVIOUS_MASTER_KEY", key.as_str()),
        ("HAVEN_PREVIOUS_MASTER_KEY_FILE", "/tmp/previous.key"),
    ]);
    let same = Env::from_pairs([
        ("HAVEN_MASTER_KEY", key.as_str()),
        ("HAVEN_PREVIOUS_MASTER_KEY", key.as_str()),
    ]);

    let weak_error = Config::from(&weak_env).expect_err("weak refused");
    let both_error = Config::from(&both).expect_err("both refused");
    let same_error = Config::from(&same)
        .expect("parses")
        .load_master_keys()
        .expect_err("same key refused");

    assert!(weak_error.to_string().contains("weak"), "{weak_error}");
    assert!(both_error.to_string().contains("not both"), "{both_error}");
    assert!(
        matches!(same_error, MasterKeyError::PreviousIsCurrent),
        "{same_error}"
    );
}

#[test]
fn the_breach_detector_runs_every_30_s_unless_switched_off_outside_production() {
    let default = Config::from(&Env::default()).expect("defaults");
    assert_eq!(
        default.breach_detector_interval,
        Some(Duration::from_secs(30))
    );
    let off = Config::from(&Env::from_pairs([("HAVEN_BREACH_DETECTOR_SECS", "off")]))
        .expect("off in development");
    assert_eq!(off.breach_detector_interval, None);
    for bad in ["0", "3601", "soon"] {
        let error = Config::from(&Env::from_pairs([("HAVEN_BREACH_DETECTOR_SECS", bad)]))
            .expect_err("refused");
        assert!(
            error.to_string().contains("HAVEN_BREACH_DETECTOR_SECS"),
            "{error}"
        );
    }
    let error = Config::from(&Env::from_pairs([
        ("HAVEN_ENV", "production"),
        ("HAVEN_PUBLIC_URL", "https://haven.example.org"),
        ("HAVEN_DATABASE_URL", "postgres://app@db/haven"),
        ("HAVEN_MASTER_KEY", &random_key()),
        ("HAVEN_BREACH_DETECTOR_SECS", "off"),
    ]))
    .expect_err("refused in production");
    assert!(error.to_string().contains("breach detector"), "{error}");
}
