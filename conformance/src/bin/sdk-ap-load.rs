//! `sdk-ap-load`: end-to-end load of two sdk-ap access points on 127.0.0.1, one payload size per run.
//!
//! Creates two development APs (as `sdk-ap init` and `sdk-ap peers add` do), runs them as child processes
//! (`sdk-ap serve`), submits signed + encrypted messages of `--size` bytes through A's local API (as fast as
//! possible with `--concurrency` in flight, or at `--rate` msg/s), and measures throughput (first submit → last
//! outcome), latency percentiles (submit → the `delivered` event on A's event stream, i.e. B's signed receipt
//! verified and stored by A), the CPU time and peak RSS (VmHWM) of each AP. In the same run it measures
//! `openssl speed rsa3072` and reports throughput against the RSA-3072 ceiling: per message three private-key
//! operations (sign, decrypt the content key, sign the receipt). Output: a markdown table on stdout.
//! `conformance bench` is the multi-size run that writes docs/performance.md.
//!
//! Example: `sdk-ap-load --sdk-ap target/release/sdk-ap --size 10240 --count 300`
//!          `sdk-ap-load --sdk-ap target/release/sdk-ap --size 10240 --count 100 --rate 10`
//!          `sdk-ap-load --sdk-ap target/release/sdk-ap --size 1073741824 --count 1`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use access_point::api::client::UploadPayload;
use access_point::api::submit::SubmitRequest;
use access_point::api::ApiClient;
use clap::Parser;
use conformance::bench::events::{DeliveryWatch, Outcome};
use conformance::bench::submitter::Submitter;
use conformance::bench::{ceilings, load_average, pair, write_payload, Measured, KB};

#[derive(Debug, Parser)]
#[command(name = "sdk-ap-load", about = "End-to-end load of two sdk-ap access points")]
struct Args {
    /// The sdk-ap binary (a release build for meaningful figures).
    #[arg(long, default_value = "target/release/sdk-ap")]
    sdk_ap: PathBuf,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 10 * 1024)]
    size: u64,
    /// Messages to send (after one uncounted 1 KB warm-up message).
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Messages per second; as fast as possible when left out.
    #[arg(long)]
    rate: Option<f64>,
    /// Messages in flight when no rate is given.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Poll interval of a message's state, used only if A's event stream breaks.
    #[arg(long, default_value_t = 10)]
    poll_ms: u64,
    /// Stop waiting for outcomes after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Seconds per `openssl speed` measurement (0 leaves the ceiling out).
    #[arg(long, default_value_t = 3)]
    openssl_seconds: u32,
    /// Working folder (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

/// CPU time (user + system) a process has used so far, in seconds (Linux clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at field 3; utime and stime are 14 and 15.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
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

/// What the submitters share.
struct Sender {
    client: ApiClient,
    /// The measured messages go over kept-alive connections with a body built once (the tool's own CPU and A's
    /// connection handling stay out of the figures).
    submitter: Submitter,
    watch: DeliveryWatch,
    poll: Duration,
    deadline: Instant,
}

impl Sender {
    /// The warm-up message, through the same client `sdk-ap send` uses.
    async fn warm_up(&self, payload: UploadPayload) -> Result<Duration, String> {
        let started = Instant::now();
        let accepted = self
            .client
            .submit(&submission(), &[payload])
            .await
            .map_err(|e| format!("submit: {e}"))?;
        self.outcome(&accepted.message_id, started).await
    }

    async fn one_message(&self) -> Result<Duration, String> {
        let started = Instant::now();
        let message_id = self.submitter.submit(&self.client).await?;
        self.outcome(&message_id, started).await
    }

    async fn outcome(&self, message_id: &str, started: Instant) -> Result<Duration, String> {
        let seen = self
            .watch
            .wait(&self.client, message_id, self.poll, self.deadline)
            .await?;
        match seen.outcome {
            Outcome::Delivered => Ok(seen.at.saturating_duration_since(started)),
            Outcome::Failed(reason) => Err(format!("{message_id} failed: {reason}")),
        }
    }
}

fn fmt_ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1} ms", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "–".into())
}

fn fmt_mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "n/a".into())
}

fn fmt_load(l: Option<f64>) -> String {
    l.map(|v| format!("{v:.2}")).unwrap_or_else(|| "?".into())
}

/// Runs the load; the table, and whether every message was delivered.
async fn load(args: &Args, work: &Path) -> Result<(String, bool), String> {
    let bin = std::fs::canonicalize(&args.sdk_ap).map_err(|e| format!("{}: {e}", args.sdk_ap.display()))?;
    let (a_config, b_config) = pair::create(work, args.size)?;
    let b = pair::serve(&bin, &b_config, &work.join("b.log"))?;
    let a = pair::serve(&bin, &a_config, &work.join("a.log"))?;
    let upload = |path: PathBuf| UploadPayload {
        path,
        mime_type: "application/octet-stream".into(),
    };
    let warm_up = work.join("warm-up.bin");
    write_payload(&warm_up, KB)?;
    let payload_path = work.join("payload.bin");
    write_payload(&payload_path, args.size)?;
    let payload = upload(payload_path);
    let a_settings = access_point::config::Config::load(&a_config).map_err(|e| e.to_string())?;
    let sender = Arc::new(Sender {
        client: ApiClient::for_config(&a_settings, None).map_err(|e| e.to_string())?,
        submitter: Submitter::new(a.api, &a_settings, submission(), payload)?,
        watch: DeliveryWatch::open(a.api, &a_settings)
            .await
            .map_err(|e| e.to_string())?,
        poll: Duration::from_millis(args.poll_ms.max(1)),
        deadline: Instant::now() + Duration::from_secs(args.timeout),
    });
    sender
        .warm_up(upload(warm_up))
        .await
        .map_err(|e| format!("warm-up message: {e}"))?;

    let load_before = load_average();
    let cpu_before = (cpu_seconds(a.pid()), cpu_seconds(b.pid()));
    let tool_cpu_before = cpu_seconds(std::process::id());
    let switches_before = (a.context_switches(), b.context_switches());
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
    for i in 0..args.count {
        let permit = match args.rate {
            Some(rate) => {
                tokio::time::sleep_until((started + Duration::from_secs_f64(i as f64 / rate)).into()).await;
                None
            }
            None => Some(semaphore.clone().acquire_owned().await.map_err(|e| e.to_string())?),
        };
        let sender = sender.clone();
        tasks.spawn(async move {
            let result = sender.one_message().await;
            drop(permit);
            result
        });
    }
    let mut latencies = Vec::with_capacity(args.count);
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| e.to_string())? {
            Ok(latency) => latencies.push(latency),
            Err(e) => failures.push(e),
        }
    }
    let wall = started.elapsed();
    let (a_rss, b_rss) = (a.peak_rss_kib(), b.peak_rss_kib());
    let switches = match (switches_before, a.context_switches(), b.context_switches()) {
        ((Some(a0), Some(b0)), Some(a1), Some(b1)) => Some((
            (a1.0.saturating_sub(a0.0), a1.1.saturating_sub(a0.1)),
            (b1.0.saturating_sub(b0.0), b1.1.saturating_sub(b0.1)),
        )),
        _ => None,
    };
    let cpu_used = match (cpu_before, cpu_seconds(a.pid()), cpu_seconds(b.pid())) {
        ((Some(a0), Some(b0)), Some(a1), Some(b1)) => Some((a1 - a0, b1 - b0)),
        _ => None,
    };
    let tool_cpu = match (tool_cpu_before, cpu_seconds(std::process::id())) {
        (Some(t0), Some(t1)) => Some(t1 - t0),
        _ => None,
    };
    let stream_broken = sender.watch.broken();
    a.stop();
    b.stop();
    let load_after = load_average();

    let ceilings = if args.openssl_seconds > 0 {
        Some(ceilings::measure(args.openssl_seconds).map_err(|e| e.to_string()))
    } else {
        None
    };
    let measured = Measured::new(args.size, args.count, latencies.len(), wall, latencies, a_rss, b_rss);
    let delivered = measured.delivered;
    let throughput = measured.messages_per_s();
    let mut table = String::from("| measure | value |\n|---|---|\n");
    let mut row = |k: &str, v: String| table.push_str(&format!("| {k} | {v} |\n"));
    row("payload size", format!("{} bytes", args.size));
    row("messages delivered / sent", format!("{delivered} / {}", args.count));
    row(
        "mode",
        match args.rate {
            Some(r) => format!("{r} msg/s"),
            None => format!("as fast as possible, {} in flight", args.concurrency),
        },
    );
    row("wall time", format!("{:.2} s", wall.as_secs_f64()));
    row(
        "load average (1 min) at start / end",
        format!("{} / {}", fmt_load(load_before), fmt_load(load_after)),
    );
    row("throughput (submit → Delivered)", format!("{throughput:.1} msg/s"));
    for p in [50.0, 90.0, 99.0, 100.0] {
        row(&format!("latency p{p}"), fmt_ms(measured.percentile(p)));
    }
    row("peak RSS sender AP (VmHWM)", fmt_mib(a_rss));
    row("peak RSS receiver AP (VmHWM)", fmt_mib(b_rss));
    if let Some((a_cpu, b_cpu)) = cpu_used.filter(|_| delivered > 0) {
        let per_message = (a_cpu + b_cpu) / delivered as f64;
        row(
            "CPU per message (sender + receiver AP, user + system)",
            format!(
                "{:.2} ms ({:.2} + {:.2})",
                per_message * 1000.0,
                a_cpu * 1000.0 / delivered as f64,
                b_cpu * 1000.0 / delivered as f64
            ),
        );
    }
    if let Some((a_switches, b_switches)) = switches.filter(|_| delivered > 0) {
        let per = |n: u64| n as f64 / delivered as f64;
        row(
            "context switches per message, voluntary / involuntary (sender AP; receiver AP)",
            format!(
                "{:.1} / {:.1}; {:.1} / {:.1}",
                per(a_switches.0),
                per(a_switches.1),
                per(b_switches.0),
                per(b_switches.1)
            ),
        );
    }
    if let Some(tool) = tool_cpu.filter(|_| delivered > 0) {
        row(
            "CPU per message of this load tool (shares the cores)",
            format!(
                "{:.2} ms; {} API connections for the submissions",
                tool * 1000.0 / delivered as f64,
                sender.submitter.connections_opened()
            ),
        );
    }
    match ceilings {
        Some(Ok(c)) => {
            let ceiling = c.rsa_message_ceiling();
            row(
                "openssl speed rsa3072 (1 core)",
                format!(
                    "{:.0} sign/s, {:.0} verify/s",
                    c.rsa3072_sign_per_s, c.rsa3072_verify_per_s
                ),
            );
            row(
                "RSA-3072 ceiling (3 private ops per message)",
                format!("{ceiling:.1} msg/s"),
            );
            row(
                "throughput / RSA ceiling",
                format!("{:.1}%", 100.0 * throughput / ceiling),
            );
            row(
                "payload MB/s / AES-128-GCM (1 core)",
                format!(
                    "{:.2}%",
                    100.0 * measured.payload_bytes_per_s() / c.aes128gcm_bytes_per_s
                ),
            );
            // Less sensitive to a shared machine: both figures are CPU time. 100% would mean the APs spend CPU
            // on nothing but the three private-key operations.
            if let Some((a_cpu, b_cpu)) = cpu_used.filter(|_| delivered > 0) {
                let per_message = (a_cpu + b_cpu) / delivered as f64;
                let rsa = ceilings::PRIVATE_OPS_PER_MESSAGE / c.rsa3072_sign_per_s;
                row(
                    "private-key CPU / AP CPU per message",
                    format!(
                        "{:.0}% ({:.2} ms of {:.2} ms)",
                        100.0 * rsa / per_message,
                        rsa * 1e3,
                        per_message * 1e3
                    ),
                );
            }
        }
        Some(Err(e)) => row("openssl speed", format!("failed: {e}")),
        None => row("openssl speed", "not measured (--openssl-seconds 0)".into()),
    }
    if let Some(reason) = stream_broken {
        table.push_str(&format!(
            "\nA's event stream stopped ({reason}); later outcomes were polled every {} ms.\n",
            args.poll_ms
        ));
    }
    if !failures.is_empty() {
        table.push_str(&format!("\n{} failures, first: {}\n", failures.len(), failures[0]));
    }
    Ok((table, failures.is_empty()))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let tmp;
    let work = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => {
            tmp = match tempfile::tempdir() {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            tmp.path().to_path_buf()
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(load(&args, &work)) {
        Ok((table, all_delivered)) => {
            print!("{table}");
            if all_delivered {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
