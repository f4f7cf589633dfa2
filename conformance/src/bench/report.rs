//! The published form of a [`BenchReport`]: docs/performance.md (machine, date, command, the openssl ceilings,
//! one table row per stack and payload size with ratios to the ceilings, method notes) and an SVG chart
//! (plotters, SVG backend): messages per second and payload megabytes per second against payload size, with the
//! ceilings as lines.

use std::fmt::Write as _;
use std::time::Duration;

use plotters::prelude::*;

use super::{BenchReport, Row, Scale, Stack, GIB, KB, MB};

/// `1 KB`, `100 KB`, `10 MB`, `1 GiB` (binary units, as the sizes are powers of two).
pub fn size_label(bytes: u64) -> String {
    match bytes {
        b if b >= GIB && b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b >= MB && b % MB == 0 => format!("{} MB", b / MB),
        b if b >= KB && b % KB == 0 => format!("{} KB", b / KB),
        b if b >= MB => format!("{:.1} MB", b as f64 / MB as f64),
        b if b >= KB => format!("{:.0} KB", b as f64 / KB as f64),
        b => format!("{b} B"),
    }
}

fn millis(d: Option<Duration>) -> String {
    match d {
        None => "–".into(),
        Some(d) if d.as_secs_f64() >= 10.0 => format!("{:.1} s", d.as_secs_f64()),
        Some(d) => format!("{:.1} ms", d.as_secs_f64() * 1000.0),
    }
}

fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.0} MiB", k as f64 / 1024.0))
        .unwrap_or_else(|| "–".into())
}

fn rate(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn percent(part: f64, whole: f64) -> String {
    if whole > 0.0 {
        format!("{:.1}%", 100.0 * part / whole)
    } else {
        "–".into()
    }
}

/// The results table (markdown), also printed at the end of a run.
pub fn results_table(report: &BenchReport) -> String {
    let mut out = String::from(
        "| stack | payload | messages | in flight | msg/s | payload MB/s | p50 | p99 | peak RSS sender | \
         peak RSS receiver | msg/s ÷ RSA ceiling | MB/s ÷ AES-GCM ceiling |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for row in &report.rows {
        let m = &row.measured;
        let (rsa, aes) = match &report.ceilings {
            Ok(c) => (
                percent(m.messages_per_s(), c.rsa_message_ceiling()),
                percent(m.payload_bytes_per_s(), c.aes128gcm_bytes_per_s),
            ),
            Err(_) => ("–".into(), "–".into()),
        };
        let receiver = match row.stack {
            Stack::SdkAp => mib(m.receiver_rss_kib),
            Stack::PyAs4 => "(same process)".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {}{} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.stack.label(),
            size_label(m.payload_bytes),
            m.delivered,
            if m.delivered == m.sent {
                String::new()
            } else {
                format!(" of {}", m.sent)
            },
            row.concurrency,
            rate(m.messages_per_s()),
            rate(m.payload_bytes_per_s() / 1e6),
            millis(m.percentile(50.0)),
            millis(m.percentile(99.0)),
            mib(m.sender_rss_kib),
            receiver,
            rsa,
            aes,
        );
    }
    out
}

/// Opens a hand-written part of docs/performance.md that a new run keeps (profiles and notes measured by hand).
pub const KEPT_START: &str = "<!-- kept by conformance bench: hand-written, not from this run -->";
/// Closes it.
pub const KEPT_END: &str = "<!-- end of the hand-written part -->";

/// The hand-written part of an earlier page (markers included), if it has one.
pub fn kept_part(previous_page: &str) -> Option<&str> {
    let start = previous_page.find(KEPT_START)?;
    let end = previous_page[start..].find(KEPT_END)? + start + KEPT_END.len();
    Some(&previous_page[start..end])
}

/// The whole docs/performance.md page; `svg_name` is the chart's file name next to it; `kept` is the hand-written
/// part of the previous page ([`kept_part`]), placed before "Method".
pub fn markdown(report: &BenchReport, svg_name: &str, kept: Option<&str>) -> String {
    let m = &report.machine;
    let mut out = String::new();
    let _ = writeln!(out, "# Performance\n");
    let _ = writeln!(
        out,
        "Written by `conformance bench` from one run; do not edit by hand, run it again. Figures are from the \
         machine below, measured in the same run as its `openssl speed` ceilings: compare the ratios, not the \
         absolute numbers, across machines.\n"
    );
    let load = |l: Option<f64>| l.map(|v| format!("{v:.2}")).unwrap_or_else(|| "?".into());
    let _ = writeln!(out, "- **Date**: {}", report.date);
    let _ = writeln!(out, "- **Command**: `{}`", report.command);
    let _ = writeln!(
        out,
        "- **Machine**: {}, {} cores, {}, {}; 1-minute load average {} at the start and {} at the end{}",
        m.cpu,
        m.cores,
        m.memory,
        m.kernel,
        load(m.load_start),
        load(m.load_end),
        if m.load_start.is_some_and(|l| l > 1.0) || m.load_end.is_some_and(|l| l > 1.0) {
            " (other jobs shared the machine: the figures are lower bounds)"
        } else {
            ""
        }
    );
    let _ = writeln!(out, "- **Commit**: {}", report.commit);
    match report.scale {
        Scale::Full => {}
        Scale::Quick => {
            let _ = writeln!(
                out,
                "- **Short run** (`--quick`): fewer messages per size, so p99 rests on few samples."
            );
        }
        Scale::Smoke => {
            let _ = writeln!(
                out,
                "- **Smoke run** (`--smoke`): a few tiny messages to prove the tool works; not figures to publish."
            );
        }
    }
    for note in &report.notes {
        let _ = writeln!(out, "- {note}");
    }
    let _ = writeln!(out, "\n## Ceilings (`openssl speed`, one core, this run)\n");
    match &report.ceilings {
        Ok(c) => {
            let _ = writeln!(out, "| measure | value |\n|---|---|");
            let _ = writeln!(out, "| OpenSSL | {} |", c.openssl_version);
            let _ = writeln!(out, "| RSA-2048 sign | {:.0} /s |", c.rsa2048_sign_per_s);
            let _ = writeln!(out, "| RSA-3072 sign | {:.0} /s |", c.rsa3072_sign_per_s);
            let _ = writeln!(out, "| RSA-3072 verify | {:.0} /s |", c.rsa3072_verify_per_s);
            let _ = writeln!(
                out,
                "| AES-128-GCM (16 KiB blocks) | {:.0} MB/s |",
                c.aes128gcm_bytes_per_s / 1e6
            );
            let _ = writeln!(
                out,
                "| RSA ceiling: RSA-3072 sign/s ÷ 3 private-key operations per message | {:.1} msg/s |",
                c.rsa_message_ceiling()
            );
        }
        Err(e) => {
            let _ = writeln!(out, "Not measured: {e}");
        }
    }
    let _ = writeln!(out, "\n## Results\n");
    out.push_str(&results_table(report));
    for row in report.rows.iter().filter(|r| !r.failures.is_empty()) {
        let _ = writeln!(
            out,
            "\n{} at {}: {} of {} not delivered; first: {}",
            row.stack.label(),
            size_label(row.measured.payload_bytes),
            row.measured.sent - row.measured.delivered,
            row.measured.sent,
            row.failures.join("; ")
        );
    }
    let _ = writeln!(out, "\n![Throughput by payload size]({svg_name})\n");
    if let Some(kept) = kept {
        let _ = writeln!(out, "{kept}\n");
    }
    let _ = writeln!(out, "## Method\n");
    let _ = writeln!(
        out,
        "- **sdk-ap → sdk-ap**: for each size a fresh pair of `sdk-ap serve` processes (release build, development \
         PKI with RSA-3072 message keys, built-in SDK P-Mode: gzip, RSA-SHA256 signature, AES-128-GCM with RSA-OAEP \
         key transport, signed receipt) on 127.0.0.1 with mutual TLS. Messages are submitted to A's local API (with \
         the operator's bearer token) with the given number in flight; each is timed from the submission request to \
         the `delivered` event on A's event stream (`GET /api/v1/events`: B stored the message durably and answered \
         with a signed receipt, A verified and stored that receipt){}. One 1 KB warm-up message per pair is not \
         counted. msg/s = delivered messages ÷ (first submission → last outcome). Payloads are incompressible \
         bytes (so compression gains nothing), sent as a raw AS4 payload under the `sdk-message` P-Mode: B's SDK \
         classifier, which runs after the receipt, finds no XHE envelope in them and drops them from its inbox \
         (TF-09), so the figures measure the signed + encrypted AS4 exchange, not the SDK business layer.",
        if report.notes.iter().any(|n| n.contains("event stream stopped")) {
            format!(
                " (where the stream stopped, see above, by polling the message's state every {} ms)",
                report.poll.as_millis()
            )
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "- **Peak RSS** is each process's `VmHWM` after its size's messages; the two APs are separate processes."
    );
    let _ = writeln!(
        out,
        "- **Ratios**: msg/s ÷ RSA ceiling is the share of what one core could do if it did nothing but the three \
         RSA-3072 private-key operations per message (small messages are bound by these); MB/s ÷ AES-GCM ceiling is \
         the share of one core's AES-128-GCM speed (large messages are bound by bulk work: besides encryption and \
         decryption every byte is hashed for the signature, gzip'd and gunzip'd, written and fsynced on both sides). \
         The ceilings are one core's while both APs and the load client share all of this machine's cores, so \
         100% is not the limit (on 2 cores 200% would be both cores doing nothing but that work); `sdk-ap-load` \
         also reports the private-key share of the APs' CPU per message, which does not depend on the core count."
    );
    let _ = writeln!(
        out,
        "- **PyPI as4 0.2.0** plays both sides in one Python process (conformance/src/bench/as4_bench.py): its \
         Peppol sender builds the signed + encrypted + compressed message (RSA-3072 keys), its receiver verifies, \
         decrypts and builds the signed receipt, its sender checks the receipt; one exchange at a time, XML \
         payloads of base64 text, no HTTP, no disk, no durability. It bounds what that stack's message work costs, \
         not a deployable access point; at 1 GiB it would hold the whole message in memory several times."
    );
    out
}

/// One chart series: (payload bytes, value) points.
type Points = Vec<(f64, f64)>;

fn series(report: &BenchReport, stack: Stack, value: impl Fn(&Row) -> f64) -> Points {
    report
        .rows
        .iter()
        .filter(|r| r.stack == stack && r.measured.delivered > 0)
        .map(|r| (r.measured.payload_bytes as f64, value(r)))
        .collect()
}

/// Tick labels of the log-scale size axis: its ticks fall on powers of ten, so decimal units read cleanly.
fn axis_size(v: &f64) -> String {
    match *v {
        v if v >= 1e9 => format!("{:.0} GB", v / 1e9),
        v if v >= 1e6 => format!("{:.0} MB", v / 1e6),
        v if v >= 1e3 => format!("{:.0} kB", v / 1e3),
        v => format!("{v:.0} B"),
    }
}

/// Draws one log-log panel: the stacks' points and a horizontal ceiling line.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    unit: &str,
    lines: &[(&str, RGBColor, Points)],
    ceiling: Option<(String, f64)>,
) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing the chart: {e:?}");
    let values = lines
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
        .chain(ceiling.iter().map(|(_, c)| *c));
    let (low, high) = values.fold((f64::MAX, f64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (low, high) = if low <= high {
        (low / 3.0, high * 3.0)
    } else {
        (0.1, 10.0)
    };
    let sizes = lines.iter().flat_map(|(_, _, p)| p.iter().map(|(x, _)| *x));
    let x_max = sizes.fold(10.0 * MB as f64, f64::max) * 2.0;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((KB as f64 / 2.0..x_max).log_scale(), (low.max(1e-3)..high).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("payload size")
        .y_desc(unit)
        .x_label_formatter(&axis_size)
        .y_label_formatter(&|v| rate(*v))
        .draw()
        .map_err(err)?;
    for (name, color, points) in lines {
        if points.is_empty() {
            continue;
        }
        let color = *color;
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(err)?
            .label(*name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(err)?;
    }
    if let Some((name, value)) = ceiling {
        let grey = RGBColor(150, 150, 150);
        chart
            .draw_series(LineSeries::new(
                vec![(KB as f64 / 2.0, value), (x_max, value)],
                grey.stroke_width(1),
            ))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], grey.stroke_width(1)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The SVG chart: messages per second (left) and payload MB/s (right) by payload size, log-log.
pub fn svg(report: &BenchReport) -> Result<String, String> {
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (1000, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| format!("drawing the chart: {e:?}"))?;
        let (left, right) = root.split_horizontally(500);
        let ours = RGBColor(31, 119, 180);
        let theirs = RGBColor(255, 127, 14);
        let per_s = |r: &Row| r.measured.messages_per_s();
        let mb_s = |r: &Row| r.measured.payload_bytes_per_s() / 1e6;
        let rsa = report
            .ceilings
            .as_ref()
            .ok()
            .map(|c| ("RSA-3072 ceiling (sign/s ÷ 3)".to_string(), c.rsa_message_ceiling()));
        let aes = report
            .ceilings
            .as_ref()
            .ok()
            .map(|c| ("AES-128-GCM, one core".to_string(), c.aes128gcm_bytes_per_s / 1e6));
        panel(
            &left,
            "Messages per second",
            "msg/s",
            &[
                (Stack::SdkAp.label(), ours, series(report, Stack::SdkAp, per_s)),
                (Stack::PyAs4.label(), theirs, series(report, Stack::PyAs4, per_s)),
            ],
            rsa,
        )?;
        panel(
            &right,
            "Payload throughput",
            "MB/s",
            &[
                (Stack::SdkAp.label(), ours, series(report, Stack::SdkAp, mb_s)),
                (Stack::PyAs4.label(), theirs, series(report, Stack::PyAs4, mb_s)),
            ],
            aes,
        )?;
        root.present().map_err(|e| format!("drawing the chart: {e:?}"))?;
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::super::ceilings::Ceilings;
    use super::super::{Machine, Measured};
    use super::*;

    fn report() -> BenchReport {
        let ms = Duration::from_millis;
        let row = |stack, size, n, wall_ms| Row {
            stack,
            concurrency: 8,
            measured: Measured::new(
                size,
                n,
                n,
                ms(wall_ms),
                (1..=n as u64).map(ms).collect(),
                Some(51_200),
                Some(40_960),
            ),
            failures: vec![],
        };
        BenchReport {
            date: "2026-11-24T17:00:00Z".into(),
            command: "conformance bench --quick".into(),
            machine: Machine {
                cpu: "Test CPU".into(),
                cores: 2,
                memory: "23 GiB RAM".into(),
                kernel: "Linux 6".into(),
                load_start: Some(3.5),
                load_end: Some(2.0),
            },
            scale: Scale::Quick,
            commit: "abc1234".into(),
            poll: ms(5),
            ceilings: Ok(Ceilings {
                openssl_version: "OpenSSL 3.0.19".into(),
                rsa2048_sign_per_s: 4000.0,
                rsa3072_sign_per_s: 1200.0,
                rsa3072_verify_per_s: 25000.0,
                aes128gcm_bytes_per_s: 4e9,
            }),
            rows: vec![
                row(Stack::SdkAp, KB, 100, 1000),
                row(Stack::PyAs4, KB, 100, 2000),
                row(Stack::SdkAp, 10 * MB, 10, 5000),
            ],
            notes: vec!["1 GiB payloads not measured in this run (`--gib` adds them).".into()],
        }
    }

    #[test]
    fn the_table_has_rates_percentiles_and_ratios() {
        let table = results_table(&report());
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        // 100 msgs in 1 s = 100 msg/s; ceiling 1200/3 = 400 msg/s → 25.0%; 100 KB/s of 4 GB/s.
        assert!(
            lines[2].starts_with(
                "| sdk-ap → sdk-ap | 1 KB | 100 | 8 | 100 | 0.10 | 50.0 ms | 99.0 ms | 50 MiB | 40 MiB | 25.0% |"
            ),
            "{}",
            lines[2]
        );
        assert!(
            lines[3].contains("(same process)") && lines[3].contains("| 12.5% |"),
            "{}",
            lines[3]
        );
        // 10 MB: 2 msg/s = 20.97 MB/s of 4000 MB/s.
        assert!(
            lines[4].contains("| 10 MB | 10 | 8 | 2.00 | 21.0 |") && lines[4].ends_with("| 0.5% |"),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn the_page_states_machine_date_command_and_ceilings() {
        let page = markdown(&report(), "performance.svg", None);
        for needle in [
            "2026-11-24T17:00:00Z",
            "`conformance bench --quick`",
            "Test CPU, 2 cores",
            "other jobs shared the machine",
            "Short run",
            "- **Commit**: abc1234",
            "| RSA-3072 sign | 1200 /s |",
            "| RSA ceiling: RSA-3072 sign/s ÷ 3 private-key operations per message | 400.0 msg/s |",
            "![Throughput by payload size](performance.svg)",
            "1 GiB payloads not measured",
        ] {
            assert!(page.contains(needle), "missing {needle:?} in:\n{page}");
        }
    }

    #[test]
    fn a_new_page_keeps_the_hand_written_part_of_the_previous_one_before_method() {
        let previous =
            format!("# Old\n\nold figures\n\n{KEPT_START}\n## Profile\n\nmeasured by hand\n{KEPT_END}\n\n## Method\n");
        let kept = kept_part(&previous).expect("the markers are found");
        assert!(kept.starts_with(KEPT_START) && kept.ends_with(KEPT_END), "{kept}");
        let page = markdown(&report(), "performance.svg", Some(kept));
        let profile = page.find("measured by hand").expect("the hand-written part is kept");
        assert!(profile < page.find("## Method").unwrap(), "kept part before Method");
        assert!(!page.contains("old figures"), "the generated part is new");
        assert_eq!(kept_part("no markers here"), None);
        assert_eq!(kept_part(&format!("{KEPT_START} but no end")), None);
    }

    #[test]
    fn the_chart_is_an_svg_with_both_stacks_and_the_ceilings() {
        let svg = svg(&report()).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for needle in [
            "Messages per second",
            "Payload throughput",
            "sdk-ap → sdk-ap",
            "PyPI as4",
            "AES-128-GCM",
        ] {
            assert!(svg.contains(needle), "missing {needle:?}");
        }
        assert!(svg.matches("<circle").count() >= 6, "a point per row and panel");
    }

    #[test]
    fn axis_ticks_read_in_decimal_units() {
        assert_eq!(axis_size(&1e3), "1 kB");
        assert_eq!(axis_size(&1e5), "100 kB");
        assert_eq!(axis_size(&1e7), "10 MB");
        assert_eq!(axis_size(&1e9), "1 GB");
    }

    #[test]
    fn sizes_read_as_published() {
        assert_eq!(size_label(KB), "1 KB");
        assert_eq!(size_label(100 * KB), "100 KB");
        assert_eq!(size_label(10 * MB), "10 MB");
        assert_eq!(size_label(GIB), "1 GiB");
        assert_eq!(size_label(1068), "1 KB");
    }
}
