//! The command line: where Haven is (a URL, or `--start` one), which scenario, how hard.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Load scenarios against Haven's HTTP API (SPEC §10); results go to BENCHMARKS.md.
#[derive(Debug, Parser)]
#[command(name = "haven-bench", version, about)]
pub struct Cli {
    /// A running Haven's base URL [default: http://127.0.0.1:8080].
    #[arg(long, global = true, conflicts_with = "start")]
    pub url: Option<String>,
    /// Start a private Haven (embedded PostgreSQL on /dev/shm) and stop it at the end.
    #[arg(long, global = true)]
    pub start: bool,
    /// The haven binary for --start [default: `haven` next to this binary].
    #[arg(long, global = true, value_name = "PATH")]
    pub haven_bin: Option<PathBuf>,
    /// With --url: the SUPER_ADMIN that seeds the scenario (--start sets its own).
    #[arg(long, global = true, env = "HAVEN_BENCH_OPERATOR_EMAIL")]
    pub operator_email: Option<String>,
    /// With --url: that operator's password.
    #[arg(
        long,
        global = true,
        env = "HAVEN_BENCH_OPERATOR_PASSWORD",
        hide_env_values = true
    )]
    pub operator_password: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Haven's database pool (`HAVEN_DB_MAX_CONNECTIONS`): --start gives the private Haven this
    /// many connections; with --url, say what that Haven has. pgbench runs with as many clients
    /// unless --pgbench-clients says otherwise, so both put the same concurrency on PostgreSQL
    /// (SPEC §10).
    #[arg(long, global = true, default_value_t = 32, value_parser = clap::value_parser!(u16).range(2..=1000))]
    pub haven_pool: u16,
    /// With --start: a setting of the started Haven, `HAVEN_NAME=value` (repeatable). Nothing
    /// else of this tool's environment reaches it.
    #[arg(long = "haven-env", global = true, value_name = "HAVEN_NAME=VALUE", value_parser = parse_haven_env)]
    pub haven_env: Vec<(String, String)>,
    /// The scenario.
    #[command(subcommand)]
    pub scenario: ScenarioCommand,
}

/// `HAVEN_NAME=value`.
fn parse_haven_env(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("expected HAVEN_NAME=value, got {text:?}"))?;
    if !name.starts_with("HAVEN_") || name.len() == "HAVEN_".len() {
        return Err(format!("{name:?} is not a HAVEN_ setting"));
    }
    Ok((name.to_owned(), value.to_owned()))
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Login flood: each client logs in as its own user, in a loop (Argon2id bound).
    Login(LoginArgs),
    /// An ADMIN creates patients in a loop (six fields encrypted, an audit row, one transaction).
    PatientCreate(PatientCreateArgs),
    /// An ADMIN reads seeded patients by id at random (JWT, RLS, decrypt, audit row).
    PatientRead(PatientReadArgs),
    /// The patient read with bearer tokens (A) and DPoP-bound tokens with a proof per request
    /// (B), in alternating pairs: what DPoP costs a read.
    PatientReadDpop(PatientReadDpopArgs),
    /// The patient read while the breach detector's lag is sampled every second (needs
    /// --start; `--haven-env HAVEN_BREACH_DETECTOR_SECS=off` for the baseline).
    BreachDetector(BreachDetectorArgs),
    /// A million audit events: how fast the sealer chains them, how fast `haven audit verify`
    /// re-hashes them (needs --start).
    AuditVerify(AuditVerifyArgs),
    /// The audit writer alone: N tasks record events through Haven's library, one transaction
    /// each, while the server's sealer seals (needs --start).
    AuditWrites(AuditWritesArgs),
    /// An ADMIN reserves 1 unit per request on a random seeded authorization (unit ledger).
    Reserve(ReserveArgs),
    /// An ADMIN reserves 1 unit per request, every client on ONE hot authorization.
    ReserveHot(ReserveHotArgs),
    /// Time the stale-reservation cleanup among many sessions (needs --start).
    CleanupStale(CleanupStaleArgs),
    /// An ADMIN reads seeded clinical notes by id at random (decrypt, HMAC check, audit row).
    NoteRead(NoteReadArgs),
    /// Each client signs its own seeded drafts (re-authentication on the hashing pool, row
    /// lock, HMAC, audit row).
    NoteSign(NoteSignArgs),
    /// A SCHEDULER books one 60-minute appointment per request, with units, at distinct free
    /// times over the seeded clinicians; then overlaps and the ledger are checked in SQL.
    Book(BookArgs),
    /// A SCHEDULER books a weekly series of 52 occurrences with units per request.
    BookSeries(BookSeriesArgs),
    /// The slot finder over many clinicians and days, among appointments seeded as the owner
    /// (needs --start).
    Slots(SlotsArgs),
    /// Patient creates, reservations and reads while the database fails over (`--kill` runs
    /// once); then every acknowledged write is looked for (needs --url: `ha/failover-drill.sh`).
    Failover(FailoverArgs),
    /// Book, reserve, complete and read across several instances (--url and --also) while
    /// they are killed and restarted outside (needs --url: `ha/chaos.sh`).
    Chaos(ChaosArgs),
    /// WebSockets (five per SCHEDULER) hearing appointment bookings: delivery latency from
    /// the commit, and the haven process's memory.
    Realtime(RealtimeArgs),
    /// READY charges exported and downloaded in each format: time and the haven process's
    /// memory (needs --start).
    ChargeExport(ChargeExportArgs),
}

/// `charge-export` options.
#[derive(Debug, Clone, Args)]
pub struct ChargeExportArgs {
    /// READY charges per format (spread over 20 patients' authorizations).
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(20..=200_000))]
    pub charges: u32,
}

/// `realtime` options.
#[derive(Debug, Clone, Args)]
pub struct RealtimeArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Sockets to hold open (five per user, the per-user limit).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub sockets: u32,
}

/// `chaos` options.
#[derive(Debug, Clone, Args)]
pub struct ChaosArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// The other instances' base URLs, comma-separated (clients spread over them and --url).
    #[arg(long, value_delimiter = ',')]
    pub also: Vec<String>,
    /// How long after the load every instance may take to answer `/ready` 200.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub recover_timeout: Duration,
    /// The owner role's URL, to look for the acknowledged writes and check the ledger.
    #[arg(long, env = "HAVEN_BENCH_OWNER_URL", hide_env_values = true)]
    pub owner_url: String,
}

/// `failover` options.
#[derive(Debug, Clone, Args)]
pub struct FailoverArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// A shell command that kills the primary (run once, `--kill-after` into the load).
    #[arg(long)]
    pub kill: String,
    /// When to run `--kill`.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub kill_after: Duration,
    /// How long after the load `/ready` may take to answer 200 again.
    #[arg(long, default_value = "120s", value_parser = parse_duration)]
    pub recover_timeout: Duration,
    /// The owner role's URL (several hosts allowed), to count the acknowledged rows, check the
    /// ledger and watch the outbox drain on whichever host is the primary afterwards.
    #[arg(long, env = "HAVEN_BENCH_OWNER_URL", hide_env_values = true)]
    pub owner_url: String,
}

/// `note-read` options.
#[derive(Debug, Clone, Args)]
pub struct NoteReadArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Notes seeded (through the API) before the load, over 100 patients.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub notes: u32,
}

/// `note-sign` options.
#[derive(Debug, Clone, Args)]
pub struct NoteSignArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Drafts seeded per client before the load (a client that runs out stops counting).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub notes_per_client: u32,
}

/// The practice the scheduling scenarios seed through the API.
#[derive(Debug, Clone, Args)]
pub struct PracticeArgs {
    /// Clinicians (each with weekly availability: every day 08:00–17:00 UTC).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub clinicians: u32,
    /// Patients, each with one authorization of 100,000 units (at least as many as
    /// clinicians, so that two bookings at one time never share a patient).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub patients: u32,
}

/// `book` options.
#[derive(Debug, Clone, Args)]
pub struct BookArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub practice: PracticeArgs,
    #[command(flatten)]
    pub pgbench: PgbenchArgs,
}

/// `book-series` options.
#[derive(Debug, Clone, Args)]
pub struct BookSeriesArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub practice: PracticeArgs,
    /// Occurrences per series (1–52).
    #[arg(long, default_value_t = 52, value_parser = clap::value_parser!(u32).range(1..=52))]
    pub occurrences: u32,
}

/// `slots` options.
#[derive(Debug, Clone, Args)]
pub struct SlotsArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub practice: PracticeArgs,
    /// Appointments inserted as the owner before the load, over the clinicians.
    #[arg(long, default_value_t = 300_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub appointments: u64,
    /// Days each search spans (1–31).
    #[arg(long, default_value_t = 31, value_parser = clap::value_parser!(u32).range(1..=31))]
    pub days: u32,
    /// The searched slot length, in minutes.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(15..=480))]
    pub duration_minutes: u32,
    /// The search's `limit` (the API's default is 100).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: u32,
}

/// `reserve` options.
#[derive(Debug, Clone, Args)]
pub struct ReserveArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Authorizations seeded through the API (100,000 units each, covering today).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub authorizations: u32,
    /// Patients seeded through the API (the authorizations are spread over them).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub patients: u32,
    #[command(flatten)]
    pub pgbench: PgbenchArgs,
}

/// `reserve-hot` options.
#[derive(Debug, Clone, Args)]
pub struct ReserveHotArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Units of the hot authorization (when they run out, 409s are expected refusals).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub total_units: u32,
    #[command(flatten)]
    pub pgbench: PgbenchArgs,
}

/// How `cleanup-stale` runs the cleanup.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum CleanupVia {
    /// `haven maintenance cleanup-stale`, attached to the running cluster.
    Cli,
    /// `POST /api/admin/maintenance/cleanup-stale` as the organization's ADMIN.
    Api,
}

/// `cleanup-stale` options.
#[derive(Debug, Clone, Args)]
pub struct CleanupStaleArgs {
    /// Sessions inserted in one organization (as the owner, with their ledger rows).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub sessions: u64,
    /// Of which stale (SCHEDULED, in the past).
    #[arg(long, default_value_t = 10_000)]
    pub stale: u64,
    /// Authorizations the sessions are spread over.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub authorizations: u32,
    /// Through the command line or the API.
    #[arg(long, value_enum, default_value = "cli")]
    pub via: CleanupVia,
}

/// How hard and how long a load runs.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// How long the load runs: `20s`, `500ms`, `2m`.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Open loop: send this many requests per second on a fixed schedule (latency counted from
    /// each scheduled send time, at most --concurrency in flight) instead of --concurrency
    /// clients in a closed loop.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
}

/// The pgbench comparison of a scenario.
#[derive(Debug, Clone, Args)]
pub struct PgbenchArgs {
    /// After the HTTP load, run the same SQL through pgbench (the scripts in DIR, e.g.
    /// `bench/pgbench`) against the started Haven's cluster, as the physical limit (needs
    /// --start).
    #[arg(long, value_name = "DIR")]
    pub pgbench: Option<PathBuf>,
    /// pgbench's worker threads (`-j`).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub pgbench_threads: u16,
    /// pgbench's clients (`-c`) [default: --haven-pool, Haven's pool size].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub pgbench_clients: Option<u16>,
}

impl PgbenchArgs {
    /// pgbench's `-c`, and why: Haven's pool size unless overridden.
    #[must_use]
    pub fn clients(&self, pool: u16) -> (u16, &'static str) {
        match self.pgbench_clients {
            Some(clients) => (clients, "--pgbench-clients"),
            None => (pool, "Haven's pool size, --haven-pool"),
        }
    }
}

/// `patient-create` options.
#[derive(Debug, Clone, Args)]
pub struct PatientCreateArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub pgbench: PgbenchArgs,
}

/// `patient-read` options.
#[derive(Debug, Clone, Args)]
pub struct PatientReadArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Patients seeded (through the API) before the load; each read picks one at random.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub patients: u32,
    #[command(flatten)]
    pub pgbench: PgbenchArgs,
}

/// `breach-detector` options.
#[derive(Debug, Clone, Args)]
pub struct BreachDetectorArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Patients seeded before the load; each read picks one at random.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub patients: u32,
    /// Read lists of this many patients (`GET /api/patients?page&limit`, a page at random)
    /// instead of one patient by id: each request then writes this many audit events.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub list_limit: Option<u32>,
    /// With the detector on: how long to wait after the load for it to read everything.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub catch_up_secs: u64,
}

impl BreachDetectorArgs {
    /// No pgbench comparison: the comparison here is the detector on against off.
    #[must_use]
    pub fn no_pgbench(&self) -> PgbenchArgs {
        PgbenchArgs {
            pgbench: None,
            pgbench_threads: 2,
            pgbench_clients: None,
        }
    }
}

/// `patient-read-dpop` options.
#[derive(Debug, Clone, Args)]
pub struct PatientReadDpopArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Patients seeded before the load; each read picks one at random.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub patients: u32,
    /// A/B pairs, each a bearer load then a DPoP load of --duration.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub pairs: u32,
    /// Sign B's proofs just before its load (each still fresh and used once) instead of during
    /// it: the client's ES256 signatures then stop taking the cores Haven and PostgreSQL share
    /// with this tool, as a real client's run on its own machine. Proofs left over are thrown
    /// away; if they run out, the rest are signed during the load.
    #[arg(long)]
    pub presign: bool,
    /// Ed25519 proofs (`alg: EdDSA`) instead of P-256 (`ES256`).
    #[arg(long)]
    pub eddsa: bool,
}

/// `audit-verify` options.
#[derive(Debug, Clone, Args)]
pub struct AuditVerifyArgs {
    /// Events inserted into the outbox of one new organization (one INSERT ... SELECT).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub rows: u64,
    /// How long the sealer may take to seal them all before the run fails.
    #[arg(long, default_value = "30m", value_parser = parse_duration)]
    pub seal_timeout: Duration,
    /// `haven audit verify --segments N` for the measured run [default: Haven's own, the cores].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub segments: Option<u16>,
    /// After the measured run, an A/B on the same chain: `--segments A` and `--segments B`
    /// alternately, `--ab-pairs` times each (e.g. `--ab-segments 1,2`).
    #[arg(long, value_delimiter = ',', num_args = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub ab_segments: Vec<u16>,
    /// Pairs of the A/B.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub ab_pairs: u32,
}

/// `audit-writes` options.
#[derive(Debug, Clone, Args)]
pub struct AuditWritesArgs {
    #[command(flatten)]
    pub load: LoadArgs,
    /// Organizations the events go to, round-robin (one chain each).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub orgs: u32,
    /// Connections of the writers' pool (`haven::db::AppPool`).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=90))]
    pub pool: u32,
}

/// `login` options.
#[derive(Debug, Clone, Args)]
pub struct LoginArgs {
    /// Concurrent clients (and users: one each, so no account lockout).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    pub concurrency: u16,
    /// How long the load runs: `20s`, `500ms`, `2m`.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Argon2id hashes timed in-process for the cores ÷ hash-time limit (the median is used).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub hash_samples: u16,
}

/// A positive number of requests per second.
pub fn parse_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 100_000.0 => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a rate between 0 and 100000 per second"
        )),
    }
}

/// `250ms`, `20s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 20s"))?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "" | "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.saturating_mul(60)),
        _ => return Err(format!("unknown unit in `{text}` (use ms, s or m)")),
    };
    if duration.is_zero() {
        return Err("the duration must be positive".into());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(parse_duration("20s"), Ok(Duration::from_secs(20)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("3h").is_err());
    }

    #[test]
    fn the_documented_command_line_parses() {
        let cli = Cli::try_parse_from([
            "haven-bench",
            "--start",
            "login",
            "--concurrency",
            "16",
            "--duration",
            "20s",
            "--json",
        ])
        .expect("the README's command parses");
        assert!(cli.start && cli.json);
        let ScenarioCommand::Login(login) = cli.scenario else {
            panic!("login parses as login");
        };
        assert_eq!(login.concurrency, 16);
        assert_eq!(login.duration, Duration::from_secs(20));
        assert!(
            Cli::try_parse_from(["haven-bench", "--start", "--url", "http://x", "login"]).is_err()
        );
    }

    #[test]
    fn the_other_scenarios_parse_with_their_defaults() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["haven-bench", "--start"].iter().chain(args))
                .expect("the command parses")
                .scenario
        };
        let ScenarioCommand::PatientRead(read) = parse(&[
            "patient-read",
            "--concurrency",
            "32",
            "--pgbench",
            "bench/pgbench",
        ]) else {
            panic!("patient-read");
        };
        assert_eq!((read.load.concurrency, read.patients), (32, 1000));
        assert_eq!(read.pgbench.pgbench, Some(PathBuf::from("bench/pgbench")));
        let ScenarioCommand::PatientCreate(create) = parse(&["patient-create"]) else {
            panic!("patient-create");
        };
        assert_eq!(create.load.duration, Duration::from_secs(20));
        assert!(create.pgbench.pgbench.is_none());
        let ScenarioCommand::AuditVerify(verify) = parse(&["audit-verify"]) else {
            panic!("audit-verify");
        };
        assert_eq!(verify.rows, 1_000_000);
        let ScenarioCommand::AuditWrites(writes) = parse(&["audit-writes", "--orgs", "100"]) else {
            panic!("audit-writes");
        };
        assert_eq!((writes.orgs, writes.pool), (100, 64));
        let ScenarioCommand::Book(book) = parse(&["book", "--concurrency", "64"]) else {
            panic!("book");
        };
        assert_eq!(
            (
                book.load.concurrency,
                book.practice.clinicians,
                book.pgbench.clients(32).0
            ),
            (64, 50, 32)
        );
        let ScenarioCommand::BookSeries(series) = parse(&["book-series"]) else {
            panic!("book-series");
        };
        assert_eq!((series.occurrences, series.practice.patients), (52, 200));
        let ScenarioCommand::Slots(slots) = parse(&["slots", "--rate", "20"]) else {
            panic!("slots");
        };
        assert_eq!(
            (slots.appointments, slots.days, slots.load.rate),
            (300_000, 31, Some(20.0))
        );
        assert!(parse_rate("0").is_err() && parse_rate("x").is_err());
    }

    #[test]
    fn pgbench_clients_default_to_the_pool_and_loads_can_be_open() {
        let cli = Cli::try_parse_from([
            "haven-bench",
            "--start",
            "--haven-pool",
            "16",
            "reserve",
            "--rate",
            "800",
        ])
        .expect("the command parses");
        assert_eq!(cli.haven_pool, 16);
        let ScenarioCommand::Reserve(reserve) = cli.scenario else {
            panic!("reserve");
        };
        assert_eq!(reserve.load.rate, Some(800.0));
        assert_eq!(
            reserve.pgbench.clients(cli.haven_pool),
            (16, "Haven's pool size, --haven-pool")
        );
        let cli = Cli::try_parse_from([
            "haven-bench",
            "--start",
            "patient-read",
            "--pgbench-clients",
            "8",
        ])
        .expect("the command parses");
        let ScenarioCommand::PatientRead(read) = cli.scenario else {
            panic!("patient-read");
        };
        assert_eq!(cli.haven_pool, 32);
        assert_eq!(read.pgbench.clients(cli.haven_pool).0, 8);
        assert_eq!(read.load.rate, None);
    }
}
