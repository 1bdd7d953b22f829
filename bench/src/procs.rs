//! Resource accounting from `/proc`: peak resident memory (summed over a process tree) and CPU
//! seconds (user + system) of every process of a system under test.
//!
//! A [`Sampler`] thread walks `/proc` every [`SAMPLE_EVERY`], finds the root process and all
//! its descendants (the mirror sandboxes of Ferry's runtime, the JVM of MirrorMaker 2, ...),
//! sums their RSS (peak of the sums is kept) and remembers the last CPU time seen per pid (a
//! pid's CPU counter only grows, so the sum of the last values is the tree's CPU time; a process
//! that exits loses at most one interval of CPU).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the process tree is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(200);

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE_BYTES: u64 = 4096;

/// One process as `/proc/<pid>/stat` shows it.
#[derive(Debug, Clone, Copy)]
pub struct ProcStat {
    /// Parent pid.
    pub ppid: u32,
    /// user + system CPU, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set, bytes.
    pub rss_bytes: u64,
}

/// Reads `/proc/<pid>/stat`; `None` if the process is gone.
pub fn stat(pid: u32) -> Option<ProcStat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses the text of `/proc/<pid>/stat` (the command name may contain spaces and parens, so
/// fields are counted after the last `)`).
pub fn parse_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): index i here is field i + 3.
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        ppid: u32::try_from(field(4)?).ok()?,
        cpu_ticks: field(14)? + field(15)?,
        rss_bytes: field(24)? * PAGE_BYTES,
    })
}

/// Every live process: pid → stat.
fn all_processes() -> HashMap<u32, ProcStat> {
    let mut out = HashMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            if let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            {
                if let Some(s) = stat(pid) {
                    out.insert(pid, s);
                }
            }
        }
    }
    out
}

/// `root` and its descendants among `procs`.
pub fn tree(root: u32, procs: &HashMap<u32, ProcStat>) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for (pid, s) in procs {
        children.entry(s.ppid).or_default().push(*pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if procs.contains_key(&pid) {
            out.push(pid);
        }
        if let Some(c) = children.get(&pid) {
            stack.extend(c);
        }
    }
    out
}

/// What a sampler measured.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Usage {
    /// Highest sum of RSS over the tree in one sample, bytes.
    pub peak_rss_bytes: u64,
    /// CPU seconds (user + system) of the tree during the sampling (minus the baseline).
    pub cpu_seconds: f64,
    /// Highest number of processes in the tree in one sample.
    pub peak_processes: usize,
    /// CPU seconds of the root process alone.
    pub root_cpu_seconds: f64,
    /// Peak RSS of the root process alone, bytes.
    pub root_peak_rss_bytes: u64,
}

/// Samples one process tree in a background thread until [`Sampler::finish`].
#[derive(Debug)]
pub struct Sampler {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Usage>>,
}

impl Sampler {
    /// Starts sampling the tree under `root`. CPU already spent by processes alive now is the
    /// baseline and is not counted (use it for long-running processes such as moto).
    pub fn start(root: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let first = all_processes();
            let baseline: BTreeMap<u32, u64> = tree(root, &first)
                .into_iter()
                .map(|p| (p, first[&p].cpu_ticks))
                .collect();
            let mut last: BTreeMap<u32, u64> = baseline.clone();
            let mut usage = Usage::default();
            loop {
                let done = flag.load(Ordering::Relaxed);
                let procs = all_processes();
                let pids = tree(root, &procs);
                let rss: u64 = pids.iter().map(|p| procs[p].rss_bytes).sum();
                usage.peak_rss_bytes = usage.peak_rss_bytes.max(rss);
                usage.peak_processes = usage.peak_processes.max(pids.len());
                if let Some(r) = procs.get(&root) {
                    usage.root_peak_rss_bytes = usage.root_peak_rss_bytes.max(r.rss_bytes);
                }
                for p in pids {
                    last.insert(p, procs[&p].cpu_ticks);
                }
                if done {
                    break;
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
            let ticks: u64 = last
                .iter()
                .map(|(p, t)| t.saturating_sub(baseline.get(p).copied().unwrap_or(0)))
                .sum();
            usage.cpu_seconds = ticks as f64 / TICKS_PER_SECOND;
            let root_ticks = last.get(&root).copied().unwrap_or(0);
            let root_base = baseline.get(&root).copied().unwrap_or(0);
            usage.root_cpu_seconds = root_ticks.saturating_sub(root_base) as f64 / TICKS_PER_SECOND;
            usage
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    /// Takes a last sample and returns the totals.
    pub fn finish(mut self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_spaces_in_the_name() {
        let text = "1234 (my (odd) name) S 77 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 1000000 2560 18446744073709551615";
        let s = parse_stat(text).unwrap();
        assert_eq!(s.ppid, 77);
        assert_eq!(s.cpu_ticks, 300);
        assert_eq!(s.rss_bytes, 2560 * 4096);
    }

    #[test]
    fn own_process_is_found_with_its_tree() {
        let me = std::process::id();
        let procs = all_processes();
        assert!(tree(me, &procs).contains(&me));
    }
}
