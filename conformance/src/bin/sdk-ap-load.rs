//! `sdk-ap-load`: end-to-end load of two sdk-ap access points on 127.0.0.1.
//!
//! Creates two development APs (`sdk-ap init`, linked with `sdk-ap peers add`), runs them as child processes
//! (`sdk-ap serve`), submits signed + encrypted messages of `--size` bytes through A's local API (as fast as
//! possible with `--concurrency` submitters, or at `--rate` msg/s), and measures throughput (first submit → last
//! Delivered), latency percentiles (submit → Delivered, polled every `--poll-ms`), and the peak RSS (VmHWM) of each
//! AP. In the same run it measures `openssl speed -seconds 3 rsa3072` and reports throughput against the RSA-3072
//! ceiling: per message three private-key operations (sign, decrypt the content key, sign the receipt).
//! Output: a markdown table on stdout.
//!
//! Example: `sdk-ap-load --sdk-ap target/release/sdk-ap --size 10240 --count 300`
//!          `sdk-ap-load --sdk-ap target/release/sdk-ap --size 10240 --count 100 --rate 10`
//!          `sdk-ap-load --sdk-ap target/release/sdk-ap --size 1073741824 --count 1`

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use access_point::api::client::UploadPayload;
use access_point::api::submit::SubmitRequest;
use access_point::api::ApiClient;
use access_point::store::State;
use clap::Parser;

#[derive(Debug, Parser)]
#[command(name = "sdk-ap-load", about = "End-to-end load of two sdk-ap access points")]
struct Args {
    /// The sdk-ap binary (a release build for meaningful figures).
    #[arg(long, default_value = "target/release/sdk-ap")]
    sdk_ap: PathBuf,
    /// Payload size in bytes.
    #[arg(long, default_value_t = 10 * 1024)]
    size: u64,
    /// Messages to send.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Messages per second; as fast as possible when left out.
    #[arg(long)]
    rate: Option<f64>,
    /// Concurrent submitters when no rate is given.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Poll interval of the per-message state (latency resolution).
    #[arg(long, default_value_t = 2)]
    poll_ms: u64,
    /// Without --rate, each submitter's poll interval grows by half after every poll up to this many ms, so that
    /// 16 submitters polling every 2 ms (8,000 API requests/s) do not take the CPU the access points are measured
    /// on. Latency percentiles of such a run are correspondingly coarse; measure latency with --rate.
    #[arg(long, default_value_t = 25)]
    max_poll_ms: u64,
    /// Stop waiting for outcomes after this many seconds.
    #[arg(long, default_value_t = 900)]
    timeout: u64,
    /// Working folder (a temporary one by default).
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

struct Ap {
    config: PathBuf,
    child: Child,
}

impl Drop for Ap {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(bin: &Path, args: &[&str]) -> Result<(), String> {
    let out = Command::new(bin)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!("sdk-ap {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

fn init(bin: &Path, dir: &Path, party: &str) -> Result<(PathBuf, u16), String> {
    let api = free_port();
    let (port, api_s) = (free_port().to_string(), api.to_string());
    run(
        bin,
        &[
            "init",
            "--dir",
            dir.to_str().unwrap(),
            "--party",
            party,
            "--port",
            &port,
            "--api-port",
            &api_s,
        ],
    )?;
    Ok((dir.join("sdk-ap.toml"), api))
}

fn serve(bin: &Path, config: &Path, api: u16, log: &Path) -> Result<Ap, String> {
    let log = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("SDK_AP_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| e.to_string())?;
    let ap = Ap {
        config: config.to_path_buf(),
        child,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", api)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("{} did not start", ap.config.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(ap)
}

/// Peak resident set size (VmHWM) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
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

/// `openssl speed -seconds 3 NAME`: the first two figures of the result line (ops/s), e.g. sign/s and verify/s.
fn openssl_speed(algorithm: &str, line_prefix: &str) -> Option<(f64, f64)> {
    let out = Command::new("openssl")
        .args(["speed", "-seconds", "3", algorithm])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.trim_start().starts_with(line_prefix))?;
    let numbers: Vec<f64> = line.split_whitespace().filter_map(|w| w.parse().ok()).collect();
    // "rsa 3072 bits 0.001s 0.00004s  800.0  25000.0": the last two numbers are the rates.
    let n = numbers.len();
    (n >= 2).then(|| (numbers[n - 2], numbers[n - 1]))
}

/// The 1-minute load average (how busy the shared machine was), or `?`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn one_message(
    client: ApiClient,
    payload: UploadPayload,
    poll: Duration,
    max_poll: Duration,
    deadline: Instant,
) -> Result<Duration, String> {
    let request = SubmitRequest {
        to: "AP0002-DEV".into(),
        pmode: Some("sdk-message".into()),
        original_sender: "0203:ap0001-dev.example".into(),
        final_recipient: "0203:ap0002-dev.example".into(),
        ..SubmitRequest::default()
    };
    let started = Instant::now();
    let accepted = client.submit(&request, &[payload]).await.map_err(|e| e.to_string())?;
    let mut poll = poll;
    loop {
        if let Some(view) = client.message(&accepted.message_id).await.map_err(|e| e.to_string())? {
            match view.state {
                State::Delivered => return Ok(started.elapsed()),
                State::Failed => return Err(format!("{} failed: {:?}", accepted.message_id, view.last_error)),
                _ => {}
            }
        }
        if Instant::now() > deadline {
            return Err(format!("{} not delivered in time", accepted.message_id));
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 3 / 2).clamp(poll, max_poll.max(poll));
    }
}

async fn load(args: &Args, work: &Path) -> Result<String, String> {
    let bin = std::fs::canonicalize(&args.sdk_ap).map_err(|e| format!("{}: {e}", args.sdk_ap.display()))?;
    let (a_config, a_api) = init(&bin, &work.join("a"), "AP0001-DEV")?;
    let (b_config, b_api) = init(&bin, &work.join("b"), "AP0002-DEV")?;
    run(
        &bin,
        &[
            "peers",
            "add",
            "--config",
            a_config.to_str().unwrap(),
            "--from",
            b_config.to_str().unwrap(),
        ],
    )?;
    run(
        &bin,
        &[
            "peers",
            "add",
            "--config",
            b_config.to_str().unwrap(),
            "--from",
            a_config.to_str().unwrap(),
        ],
    )?;
    for config in [&a_config, &b_config] {
        // Room for the largest payload this run sends.
        let text = std::fs::read_to_string(config).map_err(|e| e.to_string())?;
        let limit = (args.size + (64 << 20)).max(100 << 20);
        let text = if text.contains("[limits]") {
            text.replacen(
                "[limits]",
                &format!(
                    "[limits]\nmax_payload_bytes = {limit}\nmax_message_bytes = {}",
                    limit * 2
                ),
                1,
            )
        } else {
            format!(
                "{text}\n[limits]\nmax_payload_bytes = {limit}\nmax_message_bytes = {}\n",
                limit * 2
            )
        };
        std::fs::write(config, text).map_err(|e| e.to_string())?;
    }
    let a = serve(&bin, &a_config, a_api, &work.join("a.log"))?;
    let b = serve(&bin, &b_config, b_api, &work.join("b.log"))?;

    let payload_path = work.join("payload.bin");
    {
        use std::io::Write;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&payload_path).map_err(|e| e.to_string())?);
        let block: Vec<u8> = (0..65536u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut left = args.size;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            file.write_all(&block[..n]).map_err(|e| e.to_string())?;
            left -= n as u64;
        }
    }
    let payload = UploadPayload {
        path: payload_path,
        mime_type: "application/octet-stream".into(),
    };
    let a_settings = access_point::config::Config::load(&a_config).map_err(|e| e.to_string())?;
    let client = ApiClient::new(([127, 0, 0, 1], a_api).into())
        .with_config_token(&a_settings, None)
        .map_err(|e| e.to_string())?;
    let poll = Duration::from_millis(args.poll_ms);
    let max_poll = Duration::from_millis(args.max_poll_ms);
    let deadline = Instant::now() + Duration::from_secs(args.timeout);

    let load_before = load_average();
    let cpu_before = (cpu_seconds(a.child.id()), cpu_seconds(b.child.id()));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    match args.rate {
        Some(rate) => {
            let gap = Duration::from_secs_f64(1.0 / rate);
            for i in 0..args.count {
                tokio::time::sleep_until((started + gap * i as u32).into()).await;
                tasks.spawn(one_message(client, payload.clone(), poll, poll, deadline));
            }
        }
        None => {
            let semaphore = Arc::new(tokio::sync::Semaphore::new(args.concurrency.max(1)));
            for _ in 0..args.count {
                let permit = semaphore.clone().acquire_owned().await.map_err(|e| e.to_string())?;
                let payload = payload.clone();
                tasks.spawn(async move {
                    let result = one_message(client, payload, poll, max_poll, deadline).await;
                    drop(permit);
                    result
                });
            }
        }
    }
    let mut latencies = Vec::with_capacity(args.count);
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.map_err(|e| e.to_string())? {
            Ok(latency) => latencies.push(latency),
            Err(e) => failures.push(e),
        }
    }
    let elapsed = started.elapsed();
    let (a_rss, b_rss) = (peak_rss_kib(a.child.id()), peak_rss_kib(b.child.id()));
    let cpu_used = match (cpu_before, cpu_seconds(a.child.id()), cpu_seconds(b.child.id())) {
        ((Some(a0), Some(b0)), Some(a1), Some(b1)) => Some((a1 - a0, b1 - b0)),
        _ => None,
    };
    drop(a);
    drop(b);

    let rsa = openssl_speed("rsa3072", "rsa 3072");
    latencies.sort();
    let delivered = latencies.len();
    let throughput = delivered as f64 / elapsed.as_secs_f64();
    let mut table = String::new();
    let mut row = |k: &str, v: String| table.push_str(&format!("| {k} | {v} |\n"));
    row("payload size", format!("{} bytes", args.size));
    row("messages delivered / sent", format!("{delivered} / {}", args.count));
    row(
        "mode",
        args.rate
            .map(|r| format!("{r} msg/s"))
            .unwrap_or(format!(
                "as fast as possible, {} submitters, polling {}→{} ms",
                args.concurrency, args.poll_ms, args.max_poll_ms
            )),
    );
    row("wall time", format!("{:.2} s", elapsed.as_secs_f64()));
    row(
        "load average (1 min) at start / end",
        format!("{load_before} / {}", load_average()),
    );
    row("throughput (submit → Delivered)", format!("{throughput:.1} msg/s"));
    for p in [50.0, 90.0, 99.0] {
        row(
            &format!("latency p{p}"),
            format!("{:.1} ms", percentile(&latencies, p).as_secs_f64() * 1000.0),
        );
    }
    row(
        "latency max",
        format!(
            "{:.1} ms",
            latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
        ),
    );
    row(
        "peak RSS sender AP (VmHWM)",
        a_rss
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or("n/a".into()),
    );
    row(
        "peak RSS receiver AP (VmHWM)",
        b_rss
            .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
            .unwrap_or("n/a".into()),
    );
    match rsa {
        Some((sign, verify)) => {
            let ceiling = sign / 3.0;
            row(
                "openssl speed rsa3072 (1 core)",
                format!("{sign:.0} sign/s, {verify:.0} verify/s"),
            );
            row(
                "RSA-3072 ceiling (3 private ops per message)",
                format!("{ceiling:.1} msg/s"),
            );
            row("throughput / ceiling", format!("{:.0}%", 100.0 * throughput / ceiling));
            // Load-independent view: both `openssl speed` (process CPU time) and this count CPU seconds, so other
            // work on a shared machine changes neither much. 100% would mean the APs spend CPU on nothing but the
            // three private-key operations.
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
                row(
                    "private-key CPU / AP CPU per message",
                    format!("{:.0}% (3 / {sign:.0} s = {:.2} ms)", 300.0 / sign / per_message, 3000.0 / sign),
                );
            }
        }
        None => row("openssl speed rsa3072", "not available".into()),
    }
    let mut out = String::from("| measure | value |\n|---|---|\n");
    out.push_str(&table);
    if !failures.is_empty() {
        out.push_str(&format!("\n{} failures, first: {}\n", failures.len(), failures[0]));
    }
    Ok(out)
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
        Ok(table) => {
            print!("{table}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
