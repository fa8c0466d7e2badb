//! What a process costs, read from Linux's `/proc`: CPU time and peak memory of the server
//! processes a load run starts, and of the services beside them (PostgreSQL, NATS), so a run
//! can say where the machine's cores went.

use anyhow::Context;

/// Linux's USER_HZ: 100 on every architecture eats runs on (`getconf CLK_TCK`).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// The fields of `/proc/<pid>/stat` after the parenthesised command name.
fn stat_fields(pid: u32) -> anyhow::Result<(String, Vec<String>)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (head, tail) = stat.rsplit_once(')').context("unreadable /proc stat")?;
    let name = head
        .split_once('(')
        .map(|(_, name)| name.to_string())
        .unwrap_or_default();
    Ok((name, tail.split_whitespace().map(str::to_string).collect()))
}

/// CPU seconds process `pid` has used so far (user + system).
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let (_, fields) = stat_fields(pid)?;
    // After the name: state is field 3 of the line (index 0 here), utime 14, stime 15.
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / CLOCK_TICKS_PER_SECOND)
}

/// Peak resident memory of process `pid` (VmHWM), MiB.
pub fn peak_rss_mib(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .context("no VmHWM")?
        .parse()?;
    Ok(kb / 1024.0)
}

/// CPU seconds used so far by each process whose command name is one of `names` (e.g.
/// `postgres`, `nats-server`), by pid: [`CpuSample::since`] turns two samples into the CPU
/// used in between.
pub fn sample_cpu_of(names: &[&str]) -> anyhow::Result<CpuSample> {
    let mut by_pid = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc")? {
        let Some(pid) = entry?.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        // A process may end while the folder is read: it is then simply not in the sample.
        let Ok((name, _)) = stat_fields(pid) else {
            continue;
        };
        if names.contains(&name.as_str()) {
            if let Ok(seconds) = cpu_seconds(pid) {
                by_pid.insert(pid, seconds);
            }
        }
    }
    Ok(CpuSample(by_pid))
}

/// CPU seconds of a set of processes at one moment, by pid.
#[derive(Clone, Debug, Default)]
pub struct CpuSample(std::collections::HashMap<u32, f64>);

impl CpuSample {
    /// The CPU seconds the processes of this sample used since `earlier`: a process started
    /// in between counts whole, one that ended in between is missed (its last seconds cannot
    /// be read any more), so the figure never goes below zero and may fall short only for
    /// processes that came and went (e.g. a client's short-lived database sessions).
    pub fn since(&self, earlier: &CpuSample) -> f64 {
        self.0
            .iter()
            .map(|(pid, now)| (now - earlier.0.get(pid).copied().unwrap_or(0.0)).max(0.0))
            .sum()
    }
}

/// Busy and total jiffies of the whole machine so far (`/proc/stat`'s first line).
fn machine_jiffies() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("empty /proc/stat")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let total: u64 = fields.iter().sum();
    // idle and iowait are fields 4 and 5 of the line (indices 3 and 4 here).
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ok((total - idle, total))
}

/// Waits until the machine is quiet (under `busy` of its CPU over half a second), at most
/// `patience`; returns the share busy when it stopped waiting. A load run leaves work behind
/// (projectors catching up, the checkpointer, autovacuum), and a measurement started in it
/// would charge that work to whichever workload runs first.
pub async fn wait_until_quiet(busy: f64, patience: std::time::Duration) -> anyhow::Result<f64> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        let (busy_before, total_before) = machine_jiffies()?;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (busy_after, total_after) = machine_jiffies()?;
        let share = (busy_after - busy_before) as f64 / (total_after - total_before).max(1) as f64;
        if share < busy || tokio::time::Instant::now() >= deadline {
            return Ok(share);
        }
    }
}
