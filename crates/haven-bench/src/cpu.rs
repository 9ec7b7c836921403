//! Where the CPU went during a load (Linux `/proc`): the whole machine, the haven process, its
//! PostgreSQL (postmaster and backends), this tool, and the programs it ran and waited for
//! (`pgbench`, `haven audit verify`). What is left over is other work on the machine, which a
//! shared benchmark machine has and a report must admit.

use std::time::Duration;

use serde_json::{Value, json};

/// `USER_HZ`: the unit of every time in `/proc/*/stat`, fixed at 100 by the kernel's ABI.
const TICKS_PER_SEC: f64 = 100.0;

/// Cumulative CPU ticks (and haven's page faults) at one instant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    machine_busy: u64,
    haven: Option<ProcStat>,
    postgres: Option<u64>,
    bench: u64,
    /// CPU seconds of this tool's waited-for child processes.
    children: f64,
}

/// The parts of `/proc/<pid>/stat` used here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ProcStat {
    ppid: i32,
    /// Minor page faults (a page first touched, or reclaimed and touched again).
    minflt: u64,
    /// `utime + stime`.
    ticks: u64,
    /// `cutime + cstime`: the children it has reaped (a postmaster's ended backends).
    reaped: u64,
}

impl Snapshot {
    /// Reads the counters; `haven` and `postmaster` are known only for a started Haven.
    #[must_use]
    pub fn take(haven: Option<i32>, postmaster: Option<i32>) -> Self {
        Self {
            machine_busy: machine_busy().unwrap_or(0),
            haven: haven.and_then(process_stat),
            postgres: postmaster.map(tree_ticks),
            bench: std::fs::read_to_string("/proc/self/stat")
                .ok()
                .and_then(|stat| parse_stat(&stat))
                .map_or(0, |stat| stat.ticks),
            children: children_cpu_secs(),
        }
    }
}

/// User + system time of the child processes this tool has waited for (`getrusage`).
fn children_cpu_secs() -> f64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0.0, |usage| {
        let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
        secs(usage.user_time()) + secs(usage.system_time())
    })
}

/// CPU used between two snapshots, in cores (1.0 = one core busy the whole time).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    /// Every process on the machine.
    pub machine: f64,
    /// The haven process.
    pub haven: Option<f64>,
    /// Its PostgreSQL cluster.
    pub postgres: Option<f64>,
    /// This tool (clients, prober).
    pub bench: f64,
    /// Programs this tool ran to completion meanwhile (`pgbench`, `haven audit verify`).
    pub children: f64,
    /// Minor page faults of the haven process.
    pub haven_faults: Option<u64>,
}

impl Usage {
    /// The cores used from `before` to `after`, `elapsed` apart.
    #[must_use]
    pub fn between(before: Snapshot, after: Snapshot, elapsed: Duration) -> Self {
        let seconds = elapsed.as_secs_f64().max(1e-9);
        let cores = |from: u64, to: u64| to.saturating_sub(from) as f64 / TICKS_PER_SEC / seconds;
        let both = |from: Option<u64>, to: Option<u64>| Some(cores(from?, to?));
        Self {
            machine: cores(before.machine_busy, after.machine_busy),
            haven: both(before.haven.map(|s| s.ticks), after.haven.map(|s| s.ticks)),
            postgres: both(before.postgres, after.postgres),
            bench: cores(before.bench, after.bench),
            children: (after.children - before.children).max(0.0) / seconds,
            haven_faults: before
                .haven
                .zip(after.haven)
                .map(|(from, to)| to.minflt.saturating_sub(from.minflt)),
        }
    }

    /// Machine CPU not used by haven, its PostgreSQL, this tool or its child processes.
    #[must_use]
    pub fn other(&self) -> f64 {
        let ours =
            self.haven.unwrap_or(0.0) + self.postgres.unwrap_or(0.0) + self.bench + self.children;
        (self.machine - ours).max(0.0)
    }

    /// `{machineCores, havenCores, postgresCores, benchCores, childCores, otherCores, ...}`.
    #[must_use]
    pub fn to_json(self) -> Value {
        json!({
            "machineCores": self.machine,
            "havenCores": self.haven,
            "postgresCores": self.postgres,
            "benchCores": self.bench,
            "childCores": self.children,
            "otherCores": self.other(),
            "havenMinorFaults": self.haven_faults,
        })
    }
}

/// Busy ticks of all CPUs, from the first line of `/proc/stat`: everything but idle and iowait
/// (guest time is already inside user time).
fn machine_busy() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .strip_prefix("cpu ")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    let field = |i: usize| fields.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal
    Some(field(0) + field(1) + field(2) + field(5) + field(6) + field(7))
}

/// A `/proc/<pid>/stat` line. The command name may hold spaces and parentheses, so fields are
/// counted from the last `)` (the state, field 3 of proc(5), is then index 0).
fn parse_stat(stat: &str) -> Option<ProcStat> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(ProcStat {
        ppid: fields.get(1)?.parse().ok()?,
        minflt: field(7)?,
        ticks: field(11)? + field(12)?,
        reaped: field(13).unwrap_or(0) + field(14).unwrap_or(0),
    })
}

fn process_stat(pid: i32) -> Option<ProcStat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Ticks of `root` and its direct children (a postmaster and its backends and workers), live or
/// ended: a backend that ends is reaped by the postmaster, which then accounts its time in its
/// own `cutime`/`cstime`, so differences over a run stay sound when connections close (pgbench's
/// at its end, `haven audit verify`'s).
fn tree_ticks(root: i32) -> u64 {
    let mut total = process_stat(root).map_or(0, |stat| stat.ticks + stat.reaped);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if let Some(stat) = parse_stat(&stat)
            && stat.ppid == root
        {
            total += stat.ticks;
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_are_parsed_after_the_command_name() {
        let stat = "4242 (postgres: a) b) S 4000 4242 4242 0 -1 4194560 10 0 0 0 250 50 7 3 20 0 1";
        let expected = ProcStat {
            ppid: 4000,
            minflt: 10,
            ticks: 300,
            reaped: 10,
        };
        assert_eq!(parse_stat(stat), Some(expected));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn usage_is_in_cores_and_the_rest_is_other_work() {
        let before = Snapshot {
            machine_busy: 1_000,
            haven: Some(ProcStat {
                ppid: 1,
                minflt: 7,
                ticks: 100,
                reaped: 0,
            }),
            postgres: Some(10),
            bench: 5,
            children: 1.0,
        };
        let after = Snapshot {
            machine_busy: 1_400,
            haven: Some(ProcStat {
                ppid: 1,
                minflt: 507,
                ticks: 250,
                reaped: 0,
            }),
            postgres: Some(30),
            bench: 15,
            children: 1.5,
        };
        let usage = Usage::between(before, after, Duration::from_secs(2));
        assert!((usage.machine - 2.0).abs() < 1e-9);
        assert!(usage.haven.is_some_and(|cores| (cores - 0.75).abs() < 1e-9));
        assert!(
            usage
                .postgres
                .is_some_and(|cores| (cores - 0.1).abs() < 1e-9)
        );
        assert!((usage.children - 0.25).abs() < 1e-9);
        assert!((usage.other() - (2.0 - 0.75 - 0.1 - 0.05 - 0.25)).abs() < 1e-9);
        assert_eq!(usage.haven_faults, Some(500));
        assert!(
            Usage::between(Snapshot::default(), after, Duration::from_secs(1))
                .haven
                .is_none()
        );
    }
}
