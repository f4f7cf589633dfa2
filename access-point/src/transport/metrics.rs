//! A small, dependency-free metrics registry rendering the Prometheus text exposition format (version 0.0.4).
//!
//! Counters and gauges are atomics; labelled families keep one child per label-value tuple. Histograms have fixed
//! bucket bounds chosen at registration. [`ApMetrics`] registers the access point's families once; the transport
//! serves [`Registry::render`] at `/metrics`, and the MSH updates the same handles.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (stored as f64 bits).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
    pub fn add(&self, d: f64) {
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
            Some((f64::from_bits(b) + d).to_bits())
        });
    }
    pub fn inc(&self) {
        self.add(1.0);
    }
    pub fn dec(&self) {
        self.add(-1.0);
    }
}

/// Observations counted into fixed buckets (upper bounds, ascending), with their sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: Arc<[f64]>,
    /// Non-cumulative counts per bucket; the last one is +Inf.
    buckets: Box<[AtomicU64]>,
    sum: Gauge,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: Arc<[f64]>) -> Histogram {
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram {
            bounds,
            buckets,
            sum: Gauge::default(),
            count: AtomicU64::new(0),
        }
    }
    pub fn observe(&self, v: f64) {
        let i = self.bounds.iter().position(|b| v <= *b).unwrap_or(self.bounds.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum.add(v);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// Default latency buckets in seconds (1 ms .. 60 s).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

enum Kind {
    Counter,
    Gauge,
    Histogram(Arc<[f64]>),
}

enum Child {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
}

/// One metric family: a name, help text, label names, and a child per label-value tuple.
pub struct Family {
    name: String,
    help: String,
    label_names: Vec<String>,
    kind: Kind,
    children: Mutex<BTreeMap<Vec<String>, Child>>,
}

impl std::fmt::Debug for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Family {
    fn child(&self, values: &[&str]) -> Child {
        assert_eq!(
            values.len(),
            self.label_names.len(),
            "metric {}: label values do not match label names",
            self.name
        );
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        let child = children.entry(key).or_insert_with(|| match &self.kind {
            Kind::Counter => Child::Counter(Arc::default()),
            Kind::Gauge => Child::Gauge(Arc::default()),
            Kind::Histogram(b) => Child::Histogram(Arc::new(Histogram::new(b.clone()))),
        });
        match child {
            Child::Counter(c) => Child::Counter(c.clone()),
            Child::Gauge(g) => Child::Gauge(g.clone()),
            Child::Histogram(h) => Child::Histogram(h.clone()),
        }
    }

    /// Drops every child (e.g. before re-publishing certificate expiry gauges).
    pub fn clear(&self) {
        self.children.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn render(&self, out: &mut String) {
        let kind = match self.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram(_) => "histogram",
        };
        let _ = writeln!(out, "# HELP {} {}", self.name, escape_help(&self.help));
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        let children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        for (values, child) in children.iter() {
            let labels = render_labels(&self.label_names, values, None);
            match child {
                Child::Counter(c) => {
                    let _ = writeln!(out, "{}{labels} {}", self.name, c.get());
                }
                Child::Gauge(g) => {
                    let _ = writeln!(out, "{}{labels} {}", self.name, format_float(g.get()));
                }
                Child::Histogram(h) => {
                    let mut cumulative = 0u64;
                    for (i, bucket) in h.buckets.iter().enumerate() {
                        cumulative += bucket.load(Ordering::Relaxed);
                        let le = h.bounds.get(i).map_or_else(|| "+Inf".to_string(), |b| format_float(*b));
                        let labels = render_labels(&self.label_names, values, Some(&le));
                        let _ = writeln!(out, "{}_bucket{labels} {cumulative}", self.name);
                    }
                    let _ = writeln!(out, "{}_sum{labels} {}", self.name, format_float(h.sum.get()));
                    // The count is the +Inf bucket, so the two always agree in one scrape.
                    let _ = writeln!(out, "{}_count{labels} {cumulative}", self.name);
                }
            }
        }
    }
}

/// A labelled counter family.
#[derive(Debug, Clone)]
pub struct CounterVec(Arc<Family>);
impl CounterVec {
    pub fn with(&self, values: &[&str]) -> Arc<Counter> {
        match self.0.child(values) {
            Child::Counter(c) => c,
            _ => unreachable!("counter family holds counters"),
        }
    }
}

/// A labelled gauge family.
#[derive(Debug, Clone)]
pub struct GaugeVec(Arc<Family>);
impl GaugeVec {
    pub fn with(&self, values: &[&str]) -> Arc<Gauge> {
        match self.0.child(values) {
            Child::Gauge(g) => g,
            _ => unreachable!("gauge family holds gauges"),
        }
    }
    pub fn clear(&self) {
        self.0.clear();
    }
}

/// A labelled histogram family.
#[derive(Debug, Clone)]
pub struct HistogramVec(Arc<Family>);
impl HistogramVec {
    pub fn with(&self, values: &[&str]) -> Arc<Histogram> {
        match self.0.child(values) {
            Child::Histogram(h) => h,
            _ => unreachable!("histogram family holds histograms"),
        }
    }
}

/// A set of families rendered together.
#[derive(Debug, Default)]
pub struct Registry {
    families: Mutex<Vec<Arc<Family>>>,
}

impl Registry {
    pub fn new() -> Registry {
        Registry::default()
    }

    fn register(&self, name: &str, help: &str, labels: &[&str], kind: Kind) -> Arc<Family> {
        assert!(valid_metric_name(name), "invalid metric name {name:?}");
        for l in labels {
            assert!(valid_label_name(l), "invalid label name {l:?}");
        }
        let mut families = self.families.lock().unwrap_or_else(|p| p.into_inner());
        assert!(
            !families.iter().any(|f| f.name == name),
            "metric {name} registered twice"
        );
        let family = Arc::new(Family {
            name: name.to_string(),
            help: help.to_string(),
            label_names: labels.iter().map(|l| l.to_string()).collect(),
            kind,
            children: Mutex::new(BTreeMap::new()),
        });
        families.push(family.clone());
        family
    }

    /// A counter family. Panics on an invalid or duplicate name (a programming error, found by any test).
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> CounterVec {
        CounterVec(self.register(name, help, labels, Kind::Counter))
    }
    /// The counter family `name`, registered on first use: for modules that may start more than once with the same
    /// registry (the API's webhook delivery). Panics when `name` is registered with other labels or as another kind.
    pub fn counter_vec_shared(&self, name: &str, help: &str, labels: &[&str]) -> CounterVec {
        let existing = {
            let families = self.families.lock().unwrap_or_else(|p| p.into_inner());
            families.iter().find(|f| f.name == name).cloned()
        };
        match existing {
            Some(family) => {
                assert!(
                    matches!(family.kind, Kind::Counter) && family.label_names.iter().eq(labels.iter()),
                    "metric {name} registered with other labels or kind"
                );
                CounterVec(family)
            }
            None => self.counter_vec(name, help, labels),
        }
    }
    pub fn gauge_vec(&self, name: &str, help: &str, labels: &[&str]) -> GaugeVec {
        GaugeVec(self.register(name, help, labels, Kind::Gauge))
    }
    /// A histogram family; `bounds` must ascend strictly.
    pub fn histogram_vec(&self, name: &str, help: &str, labels: &[&str], bounds: &[f64]) -> HistogramVec {
        assert!(
            bounds.windows(2).all(|w| w[0] < w[1]),
            "histogram {name}: bounds must ascend"
        );
        assert!(!labels.contains(&"le"), "histogram {name}: `le` is reserved");
        HistogramVec(self.register(name, help, labels, Kind::Histogram(bounds.into())))
    }
    /// An unlabelled counter.
    pub fn counter(&self, name: &str, help: &str) -> Arc<Counter> {
        self.counter_vec(name, help, &[]).with(&[])
    }
    /// An unlabelled gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Arc<Gauge> {
        self.gauge_vec(name, help, &[]).with(&[])
    }

    /// The text exposition of every family.
    pub fn render(&self) -> String {
        let families = self.families.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut out = String::with_capacity(4096);
        for f in families {
            f.render(&mut out);
        }
        out
    }
}

fn valid_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !n.starts_with("__")
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn render_labels(names: &[String], values: &[String], le: Option<&str>) -> String {
    if names.is_empty() && le.is_none() {
        return String::new();
    }
    let mut parts: Vec<String> = names
        .iter()
        .zip(values)
        .map(|(n, v)| format!("{n}=\"{}\"", escape_label_value(v)))
        .collect();
    if let Some(le) = le {
        parts.push(format!("le=\"{le}\""));
    }
    format!("{{{}}}", parts.join(","))
}

/// Prometheus float syntax: `+Inf`, `-Inf`, `NaN`, otherwise Rust's shortest round-trip form.
fn format_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{v}")
    }
}

/// Outcome labels used for messages in and out.
pub mod outcome {
    /// Stored and answered with a receipt / delivered with a verified receipt.
    pub const DELIVERED: &str = "delivered";
    /// A duplicate, answered with the earlier receipt.
    pub const DUPLICATE: &str = "duplicate";
    /// Refused with an ebMS error signal / refused by the peer with a final error.
    pub const ERROR: &str = "error";
    /// Send attempt failed and will be retried.
    pub const RETRY: &str = "retry";
    /// Retries exhausted.
    pub const FAILED: &str = "failed";
}

/// The access point's metric families, registered once and shared (`Arc<ApMetrics>`).
#[derive(Debug)]
pub struct ApMetrics {
    pub registry: Registry,
    /// `sdkap_messages_in_total{outcome}`: inbound user messages by outcome ([`outcome`]).
    pub messages_in: CounterVec,
    /// `sdkap_messages_out_total{outcome}`: outbound user messages by outcome ([`outcome`]).
    pub messages_out: CounterVec,
    /// `sdkap_send_retries_total`: send attempts that are retries.
    pub send_retries: Arc<Counter>,
    /// `sdkap_receive_duration_seconds`: from request head to response head on `/as4`.
    pub receive_latency: Arc<Histogram>,
    /// `sdkap_send_duration_seconds`: one outbound attempt, request start to receipt verified.
    pub send_latency: Arc<Histogram>,
    /// `sdkap_submit_to_delivered_seconds`: submission accepted to Delivered.
    pub delivery_latency: Arc<Histogram>,
    /// `sdkap_http_bytes_in_total`: request bodies read by the server plus response bodies read by the client.
    pub bytes_in: Arc<Counter>,
    /// `sdkap_http_bytes_out_total`: request bodies sent by the client plus response bodies written by the server.
    pub bytes_out: Arc<Counter>,
    /// `sdkap_http_requests_total{route,status}`: server responses.
    pub http_requests: CounterVec,
    /// `sdkap_tls_handshake_failures_total`: inbound TLS handshakes refused or timed out.
    pub tls_handshake_failures: Arc<Counter>,
    /// `sdkap_open_connections`: inbound connections now open.
    pub open_connections: Arc<Gauge>,
    /// `sdkap_queue_depth{queue}`: set by the MSH (e.g. `queue="send"`).
    pub queue_depth: GaugeVec,
    /// `sdkap_certificate_expiry_days{certificate,subject}`: days until each own certificate expires.
    pub certificate_expiry_days: GaugeVec,
}

impl Default for ApMetrics {
    fn default() -> Self {
        ApMetrics::new()
    }
}

impl ApMetrics {
    pub fn new() -> ApMetrics {
        let r = Registry::new();
        ApMetrics {
            messages_in: r.counter_vec(
                "sdkap_messages_in_total",
                "Inbound AS4 user messages by outcome.",
                &["outcome"],
            ),
            messages_out: r.counter_vec(
                "sdkap_messages_out_total",
                "Outbound AS4 user messages by outcome.",
                &["outcome"],
            ),
            send_retries: r.counter("sdkap_send_retries_total", "Outbound send attempts that were retries."),
            receive_latency: r
                .histogram_vec(
                    "sdkap_receive_duration_seconds",
                    "Time from request head to response head on /as4.",
                    &[],
                    LATENCY_BUCKETS,
                )
                .with(&[]),
            send_latency: r
                .histogram_vec(
                    "sdkap_send_duration_seconds",
                    "One outbound attempt, request start to receipt verified.",
                    &[],
                    LATENCY_BUCKETS,
                )
                .with(&[]),
            delivery_latency: r
                .histogram_vec(
                    "sdkap_submit_to_delivered_seconds",
                    "Submission accepted to Delivered.",
                    &[],
                    LATENCY_BUCKETS,
                )
                .with(&[]),
            bytes_in: r.counter(
                "sdkap_http_bytes_in_total",
                "HTTP body bytes received (server requests, client responses).",
            ),
            bytes_out: r.counter(
                "sdkap_http_bytes_out_total",
                "HTTP body bytes sent (client requests, server responses).",
            ),
            http_requests: r.counter_vec(
                "sdkap_http_requests_total",
                "Server responses by route and status.",
                &["route", "status"],
            ),
            tls_handshake_failures: r.counter(
                "sdkap_tls_handshake_failures_total",
                "Inbound TLS handshakes refused or timed out.",
            ),
            open_connections: r.gauge("sdkap_open_connections", "Inbound connections now open."),
            queue_depth: r.gauge_vec("sdkap_queue_depth", "Messages waiting, by queue.", &["queue"]),
            certificate_expiry_days: r.gauge_vec(
                "sdkap_certificate_expiry_days",
                "Days until this access point's certificate expires (negative: expired).",
                &["certificate", "subject"],
            ),
            registry: r,
        }
    }

    /// Publishes days-to-expiry of every certificate of the identity (`message`, `tls`, `ed25519`, `x25519`).
    pub fn publish_certificate_expiry(&self, identity: &crate::pki::NodeIdentity, now: time::OffsetDateTime) {
        self.certificate_expiry_days.clear();
        let pairs = [
            ("message", Some(&identity.message)),
            ("tls", identity.tls.as_ref()),
            ("ed25519", identity.ed25519.as_ref()),
            ("x25519", identity.x25519.as_ref()),
        ];
        for (role, pair) in pairs {
            if let Some(info) = pair.and_then(|p| p.info().ok()) {
                self.certificate_expiry_days
                    .with(&[role, &info.subject])
                    .set(info.days_to_expiry(now) as f64);
            }
        }
    }

    pub fn render(&self) -> String {
        self.registry.render()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_count_matches() {
        let r = Registry::new();
        let h = r.histogram_vec("t_seconds", "help", &["k"], &[0.1, 1.0]).with(&["a"]);
        for v in [0.05, 0.5, 0.5, 5.0] {
            h.observe(v);
        }
        let text = r.render();
        assert!(text.contains("t_seconds_bucket{k=\"a\",le=\"0.1\"} 1\n"), "{text}");
        assert!(text.contains("t_seconds_bucket{k=\"a\",le=\"1\"} 3\n"), "{text}");
        assert!(text.contains("t_seconds_bucket{k=\"a\",le=\"+Inf\"} 4\n"), "{text}");
        assert!(text.contains("t_seconds_count{k=\"a\"} 4\n"), "{text}");
        assert!(text.contains("t_seconds_sum{k=\"a\"} 6.05\n"), "{text}");
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let r = Registry::new();
        r.counter_vec("c_total", "line\\one\ntwo", &["v"])
            .with(&["a\"b\\c\nd"])
            .inc();
        let text = r.render();
        assert!(text.contains("# HELP c_total line\\\\one\\ntwo\n"), "{text}");
        assert!(text.contains("c_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"), "{text}");
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn duplicate_names_are_refused() {
        let r = Registry::new();
        r.counter("x_total", "a");
        r.counter("x_total", "b");
    }

    #[test]
    fn gauges_go_both_ways() {
        let g = Gauge::default();
        g.inc();
        g.inc();
        g.dec();
        g.add(0.5);
        assert_eq!(g.get(), 1.5);
    }
}
