//! Two of our access points as child processes (`sdk-ap serve`, a release build), created and linked the way
//! `sdk-ap init` and `sdk-ap peers add` do it, on free ports of 127.0.0.1; separate processes so that the peak RSS
//! of each is its own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use access_point::cli::init::{init, InitArgs};
use access_point::config::link::add_peer_from;

pub const SENDER_PARTY: &str = "AP0001-DEV";
pub const RECEIVER_PARTY: &str = "AP0002-DEV";
pub const ORIGINAL_SENDER: &str = "0203:ap0001-dev.example";
pub const FINAL_RECIPIENT: &str = "0203:ap0002-dev.example";
/// How long an AP may take to open its store and listen.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running access point.
pub struct ServedAp {
    pub config: PathBuf,
    pub api: std::net::SocketAddr,
    child: Child,
}

impl ServedAp {
    /// Peak resident set size (VmHWM) so far, in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.child.id())
    }

    /// Context switches of the process's live threads so far ([`context_switches`]).
    pub fn context_switches(&self) -> Option<(u64, u64)> {
        context_switches(self.child.id())
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits for the exit (the store is flushed on the way out).
    pub fn stop(mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let _ = self.child.wait();
        }
    }
}

impl Drop for ServedAp {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Context switches of all live threads of a process so far: (voluntary, involuntary). Voluntary ones are
/// wake-ups (a thread that waited on a futex, a socket or the disk), which the machine's load hardly changes;
/// involuntary ones are preemptions. Threads that already exited are not counted (a tokio blocking thread lives
/// 10 s after its last task, so none exit during a run).
pub fn context_switches(pid: u32) -> Option<(u64, u64)> {
    let mut total = (0, 0);
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue; // the thread exited meanwhile
        };
        for line in status.lines() {
            let field = |prefix: &str| line.strip_prefix(prefix).and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(n) = field("voluntary_ctxt_switches:") {
                total.0 += n;
            } else if let Some(n) = field("nonvoluntary_ctxt_switches:") {
                total.1 += n;
            }
        }
    }
    Some(total)
}

/// Peak resident set size (VmHWM) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// Raises `[limits]` so a payload of `payload_bytes` fits (the defaults take 2 GiB, this also covers larger runs).
fn fit_limits(config: &Path, payload_bytes: u64) -> Result<(), String> {
    let limit = (payload_bytes + (64 << 20)).max(2 << 30);
    let text = std::fs::read_to_string(config).map_err(|e| format!("{}: {e}", config.display()))?;
    let settings = format!(
        "[limits]\nmax_payload_bytes = {limit}\nmax_decompressed_bytes = {limit}\nmax_message_bytes = {}",
        limit * 2
    );
    let text = if text.contains("\n[limits]") {
        text.replacen("[limits]", &settings, 1)
    } else {
        format!("{text}\n{settings}\n")
    };
    std::fs::write(config, text).map_err(|e| format!("{}: {e}", config.display()))
}

/// Creates A and B under `dir`, linked both ways, with limits for `payload_bytes`. Their local APIs keep token
/// authentication: the bench's client uses the operator token `init` writes (`[api] client_token_file`), so the
/// measured path includes the bearer-token check every real client pays.
pub fn create(dir: &Path, payload_bytes: u64) -> Result<(PathBuf, PathBuf), String> {
    let mut files = Vec::new();
    for (name, party) in [("a", SENDER_PARTY), ("b", RECEIVER_PARTY)] {
        let outcome = init(&InitArgs {
            dir: dir.join(name),
            party: party.into(),
            port: free_port()?,
            api_port: Some(free_port()?),
            force: false,
        })
        .map_err(|e| format!("init {party}: {e}"))?;
        fit_limits(&outcome.config_file, payload_bytes)?;
        files.push(outcome.config_file);
    }
    add_peer_from(&files[0], &files[1]).map_err(|e| format!("linking A to B: {e}"))?;
    add_peer_from(&files[1], &files[0]).map_err(|e| format!("linking B to A: {e}"))?;
    Ok((files[0].clone(), files[1].clone()))
}

/// Starts `sdk-ap serve --config CONFIG` and waits until its local API accepts connections.
pub fn serve(bin: &Path, config: &Path, log: &Path) -> Result<ServedAp, String> {
    let api = access_point::config::Config::load(config)
        .map_err(|e| e.to_string())?
        .api
        .listen;
    let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(config)
        .env("SDK_AP_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let mut ap = ServedAp {
        config: config.to_path_buf(),
        api,
        child,
    };
    let deadline = Instant::now() + START_TIMEOUT;
    while std::net::TcpStream::connect(api).is_err() {
        if let Ok(Some(status)) = ap.child.try_wait() {
            let text = std::fs::read_to_string(log).unwrap_or_default();
            return Err(format!("{} exited with {status}: {text}", config.display()));
        }
        if Instant::now() > deadline {
            return Err(format!("{} did not start within {START_TIMEOUT:?}", config.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(ap)
}
