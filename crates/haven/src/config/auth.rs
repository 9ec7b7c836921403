//! Authentication settings.

use std::net::IpAddr;
use std::time::Duration;

use secrecy::SecretString;

use super::{ConfigError, Env, Environment};

/// Argon2id cost parameters (never below OWASP's minimum: m = 19456 KiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// `HAVEN_ARGON2_MEMORY_KIB` (default and minimum 19456).
    pub memory_kib: u32,
    /// `HAVEN_ARGON2_ITERATIONS` (default and minimum 2).
    pub iterations: u32,
    /// Lanes; always 1 (each hash runs on one pool thread).
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// One network of `HAVEN_TRUSTED_PROXIES` (an address, or `address/prefix`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Parses `10.0.0.0/8`, `::1`, `192.168.1.7/32`...
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address.parse::<IpAddr>().ok()?, prefix.parse().ok()?),
            None => {
                let address = text.parse::<IpAddr>().ok()?;
                (address, if address.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self { address, prefix })
    }

    /// Whether `ip` is inside this network.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// How Haven authenticates callers.
#[derive(Debug)]
pub struct AuthConfig {
    /// `HAVEN_JWT_ISSUER` (default `haven`).
    pub issuer: String,
    /// `HAVEN_JWT_AUDIENCE` (default `haven-api`).
    pub audience: String,
    /// `HAVEN_ACCESS_TOKEN_MINUTES`: access token lifetime (default 15, at most 60).
    pub access_token_ttl: Duration,
    /// `HAVEN_SESSION_IDLE_MINUTES`: a refresh family dies after this long unused (default 30).
    pub session_idle_timeout: Duration,
    /// `HAVEN_SESSION_MAX_HOURS`: and after this long in all (default 12).
    pub session_max_lifetime: Duration,
    /// `HAVEN_KEY_ROTATION_DAYS`: signing keys rotate this often (default 30).
    pub key_rotation_interval: Duration,
    /// `HAVEN_KEY_GRACE_DAYS`: a retired key stays in the JWKS this long (default 7).
    pub key_grace_period: Duration,
    /// `HAVEN_KEY_CHECK_SECS`: how often each instance checks whether rotation is due (default
    /// 300; the instances race for a lock, one rotates).
    pub key_check_every: Duration,
    /// Password hashing cost.
    pub argon2: Argon2Params,
    /// `HAVEN_PASSWORD_HASH_THREADS`: the hashing pool's size (default: the number of cores).
    pub hash_threads: usize,
    /// `HAVEN_AUTH_RATE_LIMIT`: requests per client IP to `/api/auth/*` per window (default 100).
    pub auth_rate_limit: u32,
    /// `HAVEN_AUTH_RATE_WINDOW_SECS`: that window (default 300).
    pub auth_rate_window: Duration,
    /// `HAVEN_REDIS_URL`: shared rate-limit counters; in-process when unset.
    pub redis_url: Option<SecretString>,
    /// `HAVEN_REDIS_KEY_PREFIX`: namespace of Haven's keys in Redis (default `haven:rl`), so
    /// deployments can share one Redis.
    pub redis_key_prefix: String,
    /// `HAVEN_TRUSTED_PROXIES`: peers whose `X-Forwarded-For` is believed (comma-separated).
    pub trusted_proxies: Vec<IpNetwork>,
    /// `HAVEN_COOKIE_SECURE`: mark session cookies `Secure` (default: on, except in development).
    pub secure_cookies: bool,
    /// New organizations require MFA for admins (default: on in production).
    pub require_mfa_for_admins: bool,
    /// `HAVEN_PUBLIC_URL`: the base URL clients address Haven by (normalized, no trailing
    /// slash). DPoP proofs must name it (`htu`), never the Host header. Default: `http://` and
    /// `HAVEN_BIND`; production requires it, with `https`.
    pub public_url: String,
    /// `HAVEN_ALLOWED_ORIGINS`: the origins (`scheme://host[:port]`, comma-separated) whose pages
    /// may open a realtime socket. Default: the origin of `HAVEN_PUBLIC_URL`.
    pub allowed_origins: Vec<String>,
}

/// The origin (`scheme://host[:port]`, lower case) of an absolute http(s) URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains(['@', ' ']) {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

fn allowed_origins(env: &Env, public_url: &str) -> Result<Vec<String>, ConfigError> {
    let Some(list) = env.get("HAVEN_ALLOWED_ORIGINS") else {
        return Ok(origin_of(public_url).into_iter().collect());
    };
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            origin_of(item)
                .filter(|origin| origin.len() == item.trim_end_matches('/').len())
                .ok_or_else(|| ConfigError::Invalid {
                    key: "HAVEN_ALLOWED_ORIGINS",
                    reason: format!("{item:?} is not an origin like https://app.example.org"),
                })
        })
        .collect()
}

fn public_url(env: &Env) -> Result<String, ConfigError> {
    let invalid = |reason: &str| ConfigError::Invalid {
        key: "HAVEN_PUBLIC_URL",
        reason: reason.to_owned(),
    };
    // Production requires https (`Config::check_production`), which the default never is.
    let Some(raw) = env.get("HAVEN_PUBLIC_URL") else {
        let bind = env.get("HAVEN_BIND").unwrap_or("127.0.0.1:8080");
        return Ok(format!("http://{bind}"));
    };
    if raw.contains(['?', '#']) {
        return Err(invalid("must not have a query or fragment"));
    }
    let url = crate::auth::dpop::normalize_url(raw.trim()).ok_or_else(|| {
        invalid("must be an absolute http(s) URL, e.g. https://haven.example.org")
    })?;
    Ok(url.trim_end_matches('/').to_owned())
}

fn minutes(
    env: &Env,
    key: &'static str,
    default: u64,
    range: (u64, u64),
) -> Result<Duration, ConfigError> {
    let value: u64 = env.parse_or(key, default)?;
    if !(range.0..=range.1).contains(&value) {
        return Err(ConfigError::Invalid {
            key,
            reason: format!("must be between {} and {}", range.0, range.1),
        });
    }
    Ok(Duration::from_secs(value * 60))
}

impl AuthConfig {
    pub(super) fn from_env(env: &Env, environment: Environment) -> Result<Self, ConfigError> {
        let production = environment == Environment::Production;
        let argon2 = Argon2Params {
            memory_kib: env.parse_or("HAVEN_ARGON2_MEMORY_KIB", 19_456)?,
            iterations: env.parse_or("HAVEN_ARGON2_ITERATIONS", 2)?,
            parallelism: 1,
        };
        if argon2.memory_kib < 19_456 || argon2.memory_kib > 4 * 1024 * 1024 {
            return Err(ConfigError::Invalid {
                key: "HAVEN_ARGON2_MEMORY_KIB",
                reason: "must be between 19456 and 4194304".into(),
            });
        }
        if !(2..=20).contains(&argon2.iterations) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_ARGON2_ITERATIONS",
                reason: "must be between 2 and 20".into(),
            });
        }
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let hash_threads: usize = env.parse_or("HAVEN_PASSWORD_HASH_THREADS", cores)?;
        if !(1..=256).contains(&hash_threads) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_PASSWORD_HASH_THREADS",
                reason: "must be between 1 and 256".into(),
            });
        }
        let auth_rate_limit: u32 = env.parse_or("HAVEN_AUTH_RATE_LIMIT", 100)?;
        let key_check_every: u64 = env.parse_or("HAVEN_KEY_CHECK_SECS", 300)?;
        if !(5..=3600).contains(&key_check_every) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_KEY_CHECK_SECS",
                reason: "must be between 5 and 3600".to_owned(),
            });
        }
        let auth_rate_window: u64 = env.parse_or("HAVEN_AUTH_RATE_WINDOW_SECS", 300)?;
        if auth_rate_limit == 0 || !(1..=86_400).contains(&auth_rate_window) {
            return Err(ConfigError::Invalid {
                key: "HAVEN_AUTH_RATE_LIMIT",
                reason: "the limit must be positive and the window 1 to 86400 seconds".into(),
            });
        }
        let trusted_proxies = env
            .get("HAVEN_TRUSTED_PROXIES")
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|item| !item.is_empty())
                    .map(|item| {
                        IpNetwork::parse(item).ok_or_else(|| ConfigError::Invalid {
                            key: "HAVEN_TRUSTED_PROXIES",
                            reason: format!("{item:?} is not an IP address or network"),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?
            .unwrap_or_default();
        let public_url = public_url(env)?;
        let secure_cookies = env.parse_or("HAVEN_COOKIE_SECURE", production)?;
        if production && !secure_cookies {
            return Err(ConfigError::Production(
                "insecure cookies (HAVEN_COOKIE_SECURE=false)",
            ));
        }
        Ok(Self {
            issuer: env.get("HAVEN_JWT_ISSUER").unwrap_or("haven").to_owned(),
            audience: env
                .get("HAVEN_JWT_AUDIENCE")
                .unwrap_or("haven-api")
                .to_owned(),
            access_token_ttl: minutes(env, "HAVEN_ACCESS_TOKEN_MINUTES", 15, (1, 60))?,
            session_idle_timeout: minutes(env, "HAVEN_SESSION_IDLE_MINUTES", 30, (1, 24 * 60))?,
            session_max_lifetime: minutes(env, "HAVEN_SESSION_MAX_HOURS", 12, (1, 7 * 24))? * 60,
            key_rotation_interval: minutes(env, "HAVEN_KEY_ROTATION_DAYS", 30, (1, 365))? * 60 * 24,
            key_grace_period: minutes(env, "HAVEN_KEY_GRACE_DAYS", 7, (1, 90))? * 60 * 24,
            key_check_every: Duration::from_secs(key_check_every),
            argon2,
            hash_threads,
            auth_rate_limit,
            auth_rate_window: Duration::from_secs(auth_rate_window),
            redis_url: env.secret("HAVEN_REDIS_URL")?,
            redis_key_prefix: env
                .get("HAVEN_REDIS_KEY_PREFIX")
                .unwrap_or(crate::ratelimit::DEFAULT_KEY_PREFIX)
                .to_owned(),
            trusted_proxies,
            secure_cookies,
            require_mfa_for_admins: production,
            allowed_origins: allowed_origins(env, &public_url)?,
            public_url,
        })
    }

    /// Settings for tests and tools: the defaults of a development machine.
    #[must_use]
    pub fn development() -> Self {
        Self::from_env(&Env::default(), Environment::Development).expect("the defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_their_addresses() {
        let net = IpNetwork::parse("10.1.0.0/16").expect("valid");
        assert!(net.contains("10.1.200.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        let one = IpNetwork::parse("::1").expect("valid");
        assert!(one.contains("::1".parse().expect("ip")));
        assert!(!one.contains("127.0.0.1".parse().expect("ip")));
        assert!(
            IpNetwork::parse("0.0.0.0/0")
                .expect("valid")
                .contains("8.8.8.8".parse().expect("ip"))
        );
        assert!(IpNetwork::parse("10.0.0.0/33").is_none());
        assert!(IpNetwork::parse("nonsense").is_none());
    }

    #[test]
    fn defaults_follow_the_spec() {
        let auth = AuthConfig::development();
        assert_eq!(auth.access_token_ttl, Duration::from_secs(15 * 60));
        assert_eq!(auth.session_idle_timeout, Duration::from_secs(30 * 60));
        assert_eq!(auth.session_max_lifetime, Duration::from_secs(12 * 3600));
        assert_eq!(auth.key_rotation_interval, Duration::from_secs(30 * 86_400));
        assert_eq!(auth.key_grace_period, Duration::from_secs(7 * 86_400));
        assert_eq!(auth.argon2, Argon2Params::default());
        assert_eq!(auth.auth_rate_limit, 100);
        assert!(!auth.secure_cookies);
    }

    #[test]
    fn an_access_token_lifetime_over_an_hour_is_refused() {
        let env = Env::from_pairs([("HAVEN_ACCESS_TOKEN_MINUTES", "61")]);
        assert!(AuthConfig::from_env(&env, Environment::Development).is_err());
    }

    #[test]
    fn allowed_origins_default_to_the_public_url_and_refuse_urls_with_paths() {
        let env = Env::from_pairs([("HAVEN_PUBLIC_URL", "https://Haven.example.org/base")]);
        let auth = AuthConfig::from_env(&env, Environment::Development).expect("valid");
        assert_eq!(auth.allowed_origins, ["https://haven.example.org"]);
        let env = Env::from_pairs([(
            "HAVEN_ALLOWED_ORIGINS",
            "https://app.example.org, http://localhost:3000",
        )]);
        let auth = AuthConfig::from_env(&env, Environment::Development).expect("valid");
        assert_eq!(
            auth.allowed_origins,
            ["https://app.example.org", "http://localhost:3000"]
        );
        for bad in ["https://app.example.org/path", "ftp://x", "app.example.org"] {
            let env = Env::from_pairs([("HAVEN_ALLOWED_ORIGINS", bad)]);
            assert!(
                AuthConfig::from_env(&env, Environment::Development).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn weaker_argon2_parameters_are_refused() {
        let env = Env::from_pairs([("HAVEN_ARGON2_MEMORY_KIB", "4096")]);
        assert!(AuthConfig::from_env(&env, Environment::Development).is_err());
    }
}
