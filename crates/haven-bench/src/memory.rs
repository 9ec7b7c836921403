//! A process's memory, from `/proc/<pid>/status` (Linux).

use anyhow::Context as _;
use serde_json::{Value, json};

/// Resident memory of one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now, in KiB.
    pub rss_kib: u64,
    /// `VmHWM`: the most it was ever resident ("high water mark"), in KiB.
    pub peak_kib: u64,
}

impl Memory {
    /// Reads `/proc/<pid>/status`.
    pub fn of_pid(pid: i32) -> anyhow::Result<Self> {
        let path = format!("/proc/{pid}/status");
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        Self::parse(&text).with_context(|| format!("no VmRSS/VmHWM in {path}"))
    }

    fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| {
            status.lines().find_map(|line| {
                let value = line.strip_prefix(name)?.strip_prefix(':')?;
                value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()
            })
        };
        Some(Self {
            rss_kib: field("VmRSS")?,
            peak_kib: field("VmHWM")?,
        })
    }
}

/// KiB as MiB with one decimal, for reports.
#[must_use]
pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `{rssMib, peakMib}` of a reading.
#[must_use]
pub fn to_json(memory: Option<Memory>) -> Value {
    memory.map_or(
        Value::Null,
        |m| json!({ "rssMib": mib(m.rss_kib), "peakMib": mib(m.peak_kib) }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_file_gives_rss_and_high_water_mark() {
        let status =
            "Name:\thaven\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(
            Memory::parse(status),
            Some(Memory {
                rss_kib: 20_480,
                peak_kib: 51_200
            })
        );
        assert_eq!(Memory::parse("Name:\thaven\n"), None);
        assert!((mib(1536) - 1.5).abs() < 1e-9);
    }

    #[test]
    fn this_process_can_be_measured() {
        let pid = i32::try_from(std::process::id()).expect("a pid fits in i32");
        let memory = Memory::of_pid(pid).expect("/proc is readable");
        assert!(memory.rss_kib > 0 && memory.peak_kib >= memory.rss_kib);
    }
}
