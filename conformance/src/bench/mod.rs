//! `conformance bench`: the published performance figures, measured in one run.
//!
//! For each payload size (1 KB, 100 KB, 10 MB, and 1 GiB with `--gib`) a fresh pair of our access points runs as
//! child processes ([`pair`]); signed + encrypted SDK messages go from A to B through A's local API, each counted
//! from submission to `Delivered` (B's signed receipt verified by A). The same run measures the machine's
//! `openssl speed` ceilings ([`ceilings`]) and, where it can play both sides, PyPI `as4` ([`as4`]). [`report`] writes
//! the markdown page (docs/performance.md) and the SVG chart.

pub mod as4;
pub mod ceilings;
pub mod events;
pub mod pair;
pub mod report;
pub mod submitter;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use access_point::api::client::UploadPayload;
use access_point::api::submit::SubmitRequest;
use access_point::api::ApiClient;

use events::{DeliveryWatch, Outcome};

pub const KB: u64 = 1024;
pub const MB: u64 = 1024 * 1024;
pub const GIB: u64 = 1024 * 1024 * 1024;

/// Options of `conformance bench`.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// The `sdk-ap` binary (a release build for meaningful figures).
    pub sdk_ap: PathBuf,
    /// Also measure 1 GiB payloads.
    pub gib: bool,
    /// How many messages per size.
    pub scale: Scale,
    /// Seconds per `openssl speed` measurement.
    pub openssl_seconds: u32,
    /// Leave out the PyPI `as4` comparison.
    pub no_as4: bool,
    /// Latency resolution: how often each message's state is polled.
    pub poll: Duration,
    pub markdown: PathBuf,
    pub svg: PathBuf,
    /// Working folder (a temporary one when `None`).
    pub work_dir: Option<PathBuf>,
    /// The command line, for the page.
    pub command: String,
}

/// How many messages of one size, and how many in flight at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub size: u64,
    pub messages: usize,
    pub concurrency: usize,
}

/// How many messages a run sends per size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The published figures.
    Full,
    /// Fewer messages per size (a loaded or small machine); the page says so.
    Quick,
    /// A few tiny messages (1 KB and 100 KB only, no 1 GiB): proves the tool runs end to end, in seconds; the
    /// page says its figures are not for publishing.
    Smoke,
}

/// The sizes and message counts of a run.
pub fn plans(gib: bool, scale: Scale) -> Vec<Plan> {
    let plan = |size, counts: [usize; 3], concurrency| Plan {
        size,
        messages: match scale {
            Scale::Full => counts[0],
            Scale::Quick => counts[1],
            Scale::Smoke => counts[2],
        },
        concurrency,
    };
    let mut plans = vec![plan(KB, [300, 60, 3], 8), plan(100 * KB, [100, 30, 3], 8)];
    if scale == Scale::Smoke {
        return plans;
    }
    plans.push(plan(10 * MB, [12, 4, 0], 2));
    if gib {
        plans.push(plan(GIB, [2, 1, 0], 1));
    }
    plans
}

/// What one stack did with one payload size.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    pub payload_bytes: u64,
    pub sent: usize,
    pub delivered: usize,
    /// First submission to last outcome.
    pub wall: Duration,
    /// Per delivered message, sorted.
    pub latencies: Vec<Duration>,
    pub sender_rss_kib: Option<u64>,
    pub receiver_rss_kib: Option<u64>,
}

impl Measured {
    pub fn new(
        payload_bytes: u64,
        sent: usize,
        delivered: usize,
        wall: Duration,
        mut latencies: Vec<Duration>,
        sender_rss_kib: Option<u64>,
        receiver_rss_kib: Option<u64>,
    ) -> Measured {
        latencies.sort();
        Measured {
            payload_bytes,
            sent,
            delivered,
            wall,
            latencies,
            sender_rss_kib,
            receiver_rss_kib,
        }
    }

    pub fn messages_per_s(&self) -> f64 {
        self.delivered as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn payload_bytes_per_s(&self) -> f64 {
        self.messages_per_s() * self.payload_bytes as f64
    }

    /// Nearest-rank percentile of the delivered messages' latencies.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        Some(self.latencies[rank.clamp(1, self.latencies.len()) - 1])
    }
}

/// Which implementation a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stack {
    /// Two sdk-ap processes over HTTPS with mutual TLS, durable store on both sides.
    SdkAp,
    /// PyPI `as4` 0.2.0 as sender and receiver in one Python process, in memory.
    PyAs4,
}

impl Stack {
    pub fn label(self) -> &'static str {
        match self {
            Stack::SdkAp => "sdk-ap → sdk-ap",
            Stack::PyAs4 => "PyPI as4 0.2.0 (in-process)",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub stack: Stack,
    pub concurrency: usize,
    pub measured: Measured,
    /// Failed or undelivered messages (the first few reasons).
    pub failures: Vec<String>,
}

/// The machine the run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory: String,
    pub kernel: String,
    /// `/proc/loadavg`'s 1-minute figure at the start and the end of the run (the machine may be shared).
    pub load_start: Option<f64>,
    pub load_end: Option<f64>,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown CPU".into());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| {
                let kib: f64 = m
                    .lines()
                    .find(|l| l.starts_with("MemTotal:"))?
                    .split_whitespace()
                    .nth(1)?
                    .parse()
                    .ok()?;
                Some(format!("{:.0} GiB RAM", kib / 1024.0 / 1024.0))
            })
            .unwrap_or_else(|| "unknown RAM".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|k| format!("Linux {}", k.trim()))
            .unwrap_or_else(|_| std::env::consts::OS.to_string());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            memory,
            kernel,
            load_start: load_average(),
            load_end: None,
        }
    }
}

pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The commit the run was started from (the sdk-ap binary is built from the same tree by the documented command).
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        None => "unknown (not run in a git checkout)".into(),
        Some(head) => match git(&["status", "--porcelain", "--untracked-files=no"]) {
            Some(changes) if changes.is_empty() => head,
            _ => format!("{head} (+ uncommitted changes in the working tree)"),
        },
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub date: String,
    pub command: String,
    pub machine: Machine,
    pub scale: Scale,
    /// `git rev-parse --short HEAD` of the tree the run was started in, with `(+ uncommitted changes)` when the
    /// working tree differs from it.
    pub commit: String,
    pub poll: Duration,
    pub ceilings: Result<ceilings::Ceilings, String>,
    pub rows: Vec<Row>,
    /// What was left out, and why.
    pub notes: Vec<String>,
}

/// Writes `size` bytes that do not compress (xorshift), so gzip in the pipeline cannot flatter the figures.
pub fn write_payload(path: &Path, size: u64) -> Result<(), String> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut block = vec![0u8; 1 << 16];
    let mut left = size;
    while left > 0 {
        for chunk in block.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            chunk.copy_from_slice(&state.to_le_bytes()[..chunk.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        out.write_all(&block[..n])
            .map_err(|e| format!("{}: {e}", path.display()))?;
        left -= n as u64;
    }
    out.flush().map_err(|e| format!("{}: {e}", path.display()))
}

fn submission() -> SubmitRequest {
    SubmitRequest {
        to: pair::RECEIVER_PARTY.into(),
        pmode: Some("sdk-message".into()),
        original_sender: pair::ORIGINAL_SENDER.into(),
        final_recipient: pair::FINAL_RECIPIENT.into(),
        ..SubmitRequest::default()
    }
}

/// How a message is submitted: the `sdk-ap send` client (the warm-up), or kept-alive connections with a body
/// built once ([`submitter`]; the measured messages).
enum Via<'a> {
    Client(UploadPayload),
    Submitter(&'a submitter::Submitter),
}

/// Submits one message and waits for its outcome on the sender's event stream; the latency is submission →
/// `Delivered` (the `delivered` event reaching the benchmark).
async fn one_message(
    client: &ApiClient,
    watch: &DeliveryWatch,
    via: Via<'_>,
    poll: Duration,
    deadline: Instant,
) -> Result<Duration, String> {
    let started = Instant::now();
    let message_id = match via {
        Via::Client(payload) => {
            client
                .submit(&submission(), &[payload])
                .await
                .map_err(|e| format!("submit: {e}"))?
                .message_id
        }
        Via::Submitter(submitter) => submitter.submit(client).await?,
    };
    let seen = watch.wait(client, &message_id, poll, deadline).await?;
    match seen.outcome {
        Outcome::Delivered => Ok(seen.at.saturating_duration_since(started)),
        Outcome::Failed(reason) => Err(format!("{message_id} failed: {reason}")),
    }
}

/// Time allowed for one size's messages (the 1 GiB ones take minutes on a small machine).
fn size_timeout(plan: &Plan) -> Duration {
    Duration::from_secs(120 + (plan.size / MB) * plan.messages as u64 / 2)
}

/// One size between two fresh sdk-ap processes: a 1 KB warm-up message (TLS session, caches; not counted), then
/// `plan.messages` with `plan.concurrency` in flight. Also returns a note when the event stream broke and outcomes
/// had to be polled.
pub async fn measure_sdk_ap(
    bin: &Path,
    work: &Path,
    plan: &Plan,
    poll: Duration,
) -> Result<(Row, Option<String>), String> {
    std::fs::create_dir_all(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let (a_config, b_config) = pair::create(work, plan.size)?;
    let b = pair::serve(bin, &b_config, &work.join("b.log"))?;
    let a = pair::serve(bin, &a_config, &work.join("a.log"))?;
    let upload = |path: PathBuf| UploadPayload {
        path,
        mime_type: "application/octet-stream".into(),
    };
    let warm_up = work.join("warm-up.bin");
    write_payload(&warm_up, KB)?;
    let payload_path = work.join("payload.bin");
    write_payload(&payload_path, plan.size)?;
    let payload = upload(payload_path);
    let a_settings = access_point::config::Config::load(&a_config).map_err(|e| e.to_string())?;
    let client = ApiClient::for_config(&a_settings, None).map_err(|e| e.to_string())?;
    let watch = Arc::new(
        DeliveryWatch::open(a.api, &a_settings)
            .await
            .map_err(|e| e.to_string())?,
    );
    let deadline = Instant::now() + size_timeout(plan);
    one_message(&client, &watch, Via::Client(upload(warm_up)), poll, deadline)
        .await
        .map_err(|e| format!("warm-up message: {e}"))?;

    let submitter = Arc::new(submitter::Submitter::new(a.api, &a_settings, submission(), payload)?);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(plan.concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..plan.messages {
        let permit = semaphore.clone().acquire_owned().await.map_err(|e| e.to_string())?;
        let (submitter, client, watch) = (submitter.clone(), client.clone(), watch.clone());
        tasks.spawn(async move {
            let result = one_message(&client, &watch, Via::Submitter(&submitter), poll, deadline).await;
            drop(permit);
            result
        });
    }
    let mut latencies = Vec::with_capacity(plan.messages);
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| e.to_string())? {
            Ok(latency) => latencies.push(latency),
            Err(e) => failures.push(e),
        }
    }
    let wall = started.elapsed();
    let (a_rss, b_rss) = (a.peak_rss_kib(), b.peak_rss_kib());
    a.stop();
    b.stop();
    let delivered = latencies.len();
    let stream_note = watch.broken().map(|reason| {
        format!(
            "sdk-ap at {}: the event stream stopped ({reason}); later outcomes were polled every {poll:?}.",
            report::size_label(plan.size)
        )
    });
    failures.truncate(3);
    let row = Row {
        stack: Stack::SdkAp,
        concurrency: plan.concurrency,
        measured: Measured::new(plan.size, plan.messages, delivered, wall, latencies, a_rss, b_rss),
        failures,
    };
    Ok((row, stream_note))
}

/// The whole run: ceilings, every size for sdk-ap (and as4 where it fits in memory), then the page and the chart.
pub async fn run(options: &BenchOptions) -> Result<BenchReport, String> {
    let bin = std::fs::canonicalize(&options.sdk_ap).map_err(|e| format!("{}: {e}", options.sdk_ap.display()))?;
    let tmp;
    let work = match &options.work_dir {
        Some(dir) => dir.clone(),
        None => {
            tmp = tempfile::tempdir().map_err(|e| format!("temporary folder: {e}"))?;
            tmp.path().to_path_buf()
        }
    };
    let mut machine = Machine::describe();
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| e.to_string())?;
    let mut notes = Vec::new();
    eprintln!("bench: openssl speed ceilings ({} s each)", options.openssl_seconds);
    let ceilings = ceilings::measure(options.openssl_seconds).map_err(|e| e.to_string());
    if let Err(e) = &ceilings {
        notes.push(format!("openssl speed failed, no ratios: {e}"));
    }
    let python = if options.no_as4 {
        notes.push("PyPI as4 left out (--no-as4).".into());
        None
    } else {
        match as4::python() {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("SKIPPED: the PyPI as4 comparison: {e}");
                notes.push(format!("PyPI as4 comparison skipped: {e}"));
                None
            }
        }
    };
    if !options.gib && options.scale != Scale::Smoke {
        notes.push("1 GiB payloads not measured in this run (`--gib` adds them).".into());
    }
    let mut rows = Vec::new();
    for plan in plans(options.gib, options.scale) {
        eprintln!(
            "bench: sdk-ap, {} bytes x {} ({} in flight)",
            plan.size, plan.messages, plan.concurrency
        );
        let dir = work.join(format!("sdk-ap-{}", plan.size));
        let (row, stream_note) = measure_sdk_ap(&bin, &dir, &plan, options.poll).await?;
        notes.extend(stream_note);
        // The spooled copies of large payloads are gigabytes: gone before the next size.
        let _ = std::fs::remove_dir_all(&dir);
        rows.push(row);
        let Some(python) = &python else { continue };
        if plan.size >= GIB {
            notes.push("PyPI as4 at 1 GiB: not run (as4 holds a whole message in memory several times).".into());
            continue;
        }
        eprintln!("bench: PyPI as4, {} bytes x {}", plan.size, plan.messages);
        match as4::measure(python, &work, plan.size, plan.messages) {
            Ok(measured) => rows.push(Row {
                stack: Stack::PyAs4,
                concurrency: 1,
                measured,
                failures: vec![],
            }),
            Err(e) => notes.push(format!("PyPI as4 at {} bytes failed: {e}", plan.size)),
        }
    }
    machine.load_end = load_average();
    let report = BenchReport {
        date,
        command: options.command.clone(),
        machine,
        scale: options.scale,
        commit: commit(),
        poll: options.poll,
        ceilings,
        rows,
        notes,
    };
    let svg_name = options
        .svg
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // A missing or unreadable earlier page just has nothing to keep.
    let previous = std::fs::read_to_string(&options.markdown).unwrap_or_default();
    let markdown = report::markdown(&report, &svg_name, report::kept_part(&previous));
    let svg = report::svg(&report)?;
    for (path, text) in [(&options.markdown, &markdown), (&options.svg, &svg)] {
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    print!("{}", report::results_table(&report));
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let ms = |v: u64| Duration::from_millis(v);
        let m = Measured::new(10, 100, 100, ms(1000), (1..=100).rev().map(ms).collect(), None, None);
        assert_eq!(m.percentile(50.0), Some(ms(50)));
        assert_eq!(m.percentile(99.0), Some(ms(99)));
        assert_eq!(m.percentile(100.0), Some(ms(100)));
        assert_eq!(m.messages_per_s(), 100.0);
        assert_eq!(m.payload_bytes_per_s(), 1000.0);
        let empty = Measured::new(10, 3, 0, ms(1), vec![], None, None);
        assert_eq!(empty.percentile(50.0), None);
    }

    #[tokio::test]
    async fn payload_does_not_compress() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        write_payload(&path, 100_003).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 100_003);
        // Through the gzip the pipeline uses: nothing to gain.
        let mut gz = Vec::new();
        access_point::compression::gzip_compress(
            &bytes[..],
            &mut gz,
            access_point::compression::Compression::default(),
        )
        .await
        .unwrap();
        assert!(gz.len() > 99_000, "{}", gz.len());
    }

    #[test]
    fn plans_cover_the_published_sizes() {
        let sizes: Vec<u64> = plans(true, Scale::Full).iter().map(|p| p.size).collect();
        assert_eq!(sizes, vec![KB, 100 * KB, 10 * MB, GIB]);
        assert!(plans(false, Scale::Quick)
            .iter()
            .all(|p| p.size < GIB && p.messages >= 1));
        let smoke = plans(true, Scale::Smoke);
        assert!(
            smoke
                .iter()
                .all(|p| p.size <= 100 * KB && (1..=5).contains(&p.messages)),
            "{smoke:?}"
        );
    }
}
