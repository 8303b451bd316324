//! Latency: HDR histograms in nanoseconds, their summaries, and the
//! interchange formats HdrHistogram's own tools read.
//!
//! * [`new_histogram`]: 1 ns .. 1 hour, 3 significant digits (values are
//!   exact to 0.1% at every magnitude).
//! * [`encode`] / [`decode`]: one histogram as base64 of the V2 compressed
//!   (deflate) encoding, the form used inside `.hlog` interval logs.
//! * [`write_interval_log`] / [`read_interval_log`]: the `.hlog` interval log
//!   (`HistogramLogProcessor`, HdrHistogram's plotter and `hdr-plot` read it).
//! * [`percentile_distribution`]: the `.hgrm` percentile-distribution text
//!   (`outputPercentileDistribution` in Java), read by HdrHistogram's
//!   online plotter.
//! * [`timer_floor`]: what a clock read itself costs, the floor of every figure.

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime};

/// Largest value a histogram tracks: one hour in nanoseconds. Larger values saturate.
pub const HIGHEST_NS: u64 = 3_600 * 1_000_000_000;

/// Significant decimal digits kept at every magnitude.
pub const SIGFIG: u8 = 3;

/// A latency histogram in nanoseconds.
pub type Hist = Histogram<u64>;

/// An empty histogram with pooling-lab's bounds (1 ns .. 1 h, 3 significant digits).
///
/// Its counts array (~0.5 MiB) is written once here, so all of its pages are
/// resident before any measurement: recording never takes a page fault, and
/// the histogram's own memory never shows up as growth in a memory reading
/// taken while it fills.
pub fn new_histogram() -> Hist {
    // The bounds are constants that satisfy hdrhistogram's preconditions
    // (low >= 1, high >= 2 * low, sigfig <= 5).
    let mut h =
        Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIG).expect("constant bounds are valid");
    // The counts come from a zeroed allocation whose pages are not yet
    // touched; writing them makes them resident.
    h.clear();
    h
}

/// Adds every histogram in `parts` into one (per-thread histograms merged after the run).
pub fn merge<'a>(parts: impl IntoIterator<Item = &'a Hist>) -> Result<Hist> {
    let mut total = new_histogram();
    for h in parts {
        total
            .add(h)
            .map_err(|e| anyhow!("merging histograms: {e:?}"))?;
    }
    Ok(total)
}

/// The figures a report shows for one histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LatencySummary {
    /// Recorded values.
    pub count: u64,
    /// Smallest value.
    pub min_ns: u64,
    /// Arithmetic mean.
    pub mean_ns: f64,
    /// Standard deviation.
    pub stdev_ns: f64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
    /// Largest value.
    pub max_ns: u64,
}

impl LatencySummary {
    /// Summarizes `h`. An empty histogram gives all zeros.
    pub fn of(h: &Hist) -> LatencySummary {
        if h.is_empty() {
            return LatencySummary {
                count: 0,
                min_ns: 0,
                mean_ns: 0.0,
                stdev_ns: 0.0,
                p50_ns: 0,
                p90_ns: 0,
                p99_ns: 0,
                p999_ns: 0,
                max_ns: 0,
            };
        }
        LatencySummary {
            count: h.len(),
            min_ns: h.min(),
            mean_ns: h.mean(),
            stdev_ns: h.stdev(),
            p50_ns: h.value_at_quantile(0.5),
            p90_ns: h.value_at_quantile(0.9),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
            max_ns: h.max(),
        }
    }
}

/// Base64 of the V2 deflate encoding of `h`.
pub fn encode(h: &Hist) -> Result<String> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| anyhow!("encoding a histogram: {e:?}"))?;
    Ok(BASE64.encode(buf))
}

/// Inverse of [`encode`].
pub fn decode(text: &str) -> Result<Hist> {
    let bytes = BASE64
        .decode(text.trim())
        .context("histogram is not valid base64")?;
    let h: Hist = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| anyhow!("decoding a histogram: {e:?}"))?;
    Ok(h)
}

/// One histogram of an interval log.
pub struct LogInterval<'a> {
    /// Tag of the interval (pooling-lab writes the phase name).
    pub tag: &'a str,
    /// Start, relative to the log's start time.
    pub start: Duration,
    /// Length of the interval.
    pub duration: Duration,
    /// The values recorded in it.
    pub histogram: &'a Hist,
}

/// Writes an `.hlog` interval log: comment lines, `StartTime`, then one line per interval.
/// Values are nanoseconds; `MaxValueDivisor` is 1e6 so the `max` column reads in milliseconds.
pub fn write_interval_log(
    comments: &[String],
    start_time: SystemTime,
    intervals: &[LogInterval<'_>],
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut builder = IntervalLogWriterBuilder::new();
    for c in comments {
        builder.add_comment(c);
    }
    builder
        .add_comment("values are nanoseconds")
        .with_start_time(start_time)
        .with_base_time(start_time)
        .with_max_value_divisor(1e6);
    let mut writer = builder
        .begin_log_with(&mut out, &mut serializer)
        .context("writing the interval log header")?;
    for i in intervals {
        let tag =
            Tag::new(i.tag).ok_or_else(|| anyhow!("`{}` cannot be an interval log tag", i.tag))?;
        writer
            .write_histogram(i.histogram, i.start, i.duration, Some(tag))
            .map_err(|e| anyhow!("writing an interval: {e}"))?;
    }
    Ok(out)
}

/// Reads every interval of an `.hlog` interval log: (tag, histogram).
pub fn read_interval_log(bytes: &[u8]) -> Result<Vec<(Option<String>, Hist)>> {
    let mut out = Vec::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| anyhow!("reading the interval log: {e:?}"))?;
        if let LogEntry::Interval(i) = entry {
            let h = decode(i.encoded_histogram())?;
            out.push((i.tag().map(|t| t.as_str().to_string()), h));
        }
    }
    if out.is_empty() {
        bail!("the interval log holds no histogram");
    }
    Ok(out)
}

/// The `.hgrm` percentile distribution of `h` (the text `outputPercentileDistribution`
/// prints), values divided by `scale` (1000.0 prints microseconds).
pub fn percentile_distribution(h: &Hist, scale: f64, ticks_per_half_distance: u32) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let digits = usize::from(SIGFIG);
    if !h.is_empty() {
        for v in h.iter_quantiles(ticks_per_half_distance) {
            let value = v.value_iterated_to() as f64 / scale;
            let q = v.quantile_iterated_to();
            let total = count_at_or_below(h, v.value_iterated_to());
            if q < 1.0 {
                let _ = writeln!(
                    s,
                    "{value:>12.digits$} {q:>2.12} {total:>10} {:>14.2}",
                    1.0 / (1.0 - q)
                );
            } else {
                let _ = writeln!(s, "{value:>12.digits$} {q:>2.12} {total:>10}");
            }
        }
    }
    let (mean, stdev) = if h.is_empty() {
        (0.0, 0.0)
    } else {
        (h.mean() / scale, h.stdev() / scale)
    };
    let max = h.max() as f64 / scale;
    let _ = writeln!(
        s,
        "#[Mean    = {mean:>12.digits$}, StdDeviation   = {stdev:>12.digits$}]"
    );
    let _ = writeln!(
        s,
        "#[Max     = {max:>12.digits$}, Total count    = {:>12}]",
        h.len()
    );
    let _ = writeln!(
        s,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_bucket_count()
    );
    s
}

/// Sub-buckets per bucket for [`SIGFIG`] digits, as HdrHistogram computes it.
fn sub_bucket_count() -> u64 {
    let largest_single_unit = 2.0 * 10f64.powi(i32::from(SIGFIG));
    1u64 << (largest_single_unit.log2().ceil() as u32)
}

fn count_at_or_below(h: &Hist, value: u64) -> u64 {
    h.count_between(0, value)
}

/// Cost of one clock read, measured as back-to-back `Instant::now()` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TimerFloor {
    /// Pairs measured.
    pub samples: u64,
    /// Smallest difference between two consecutive reads.
    pub min_ns: u64,
    /// Median difference: the typical floor of a single timed figure.
    pub p50_ns: u64,
    /// 99th percentile difference.
    pub p99_ns: u64,
}

/// Measures the clock's own cost over `samples` back-to-back pairs.
pub fn timer_floor(samples: u64) -> TimerFloor {
    let mut h = new_histogram();
    for _ in 0..samples {
        let a = Instant::now();
        let b = Instant::now();
        // A zero difference (coarse clock) is recorded as 1 ns, the histogram's floor.
        h.saturating_record((b - a).as_nanos().max(1) as u64);
    }
    TimerFloor {
        samples,
        min_ns: h.min(),
        p50_ns: h.value_at_quantile(0.5),
        p99_ns: h.value_at_quantile(0.99),
    }
}

/// Sleeps until `spin` before `due`, then spins until `due`: a sleep wakes
/// tens to hundreds of microseconds late, and a schedule that counts latency
/// from the due time (an open loop) would charge that lateness to the server.
pub fn wait_until(due: std::time::Instant, spin: std::time::Duration) {
    loop {
        let now = std::time::Instant::now();
        if now >= due {
            return;
        }
        let left = due - now;
        if left > spin {
            std::thread::sleep(left - spin);
        } else {
            std::hint::spin_loop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(values: impl IntoIterator<Item = u64>) -> Hist {
        let mut h = new_histogram();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn merge_adds_counts_and_keeps_extremes_across_threads() {
        let parts: Vec<Hist> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4u64)
                .map(|t| s.spawn(move || filled((1..=1000).map(|i| i * 1000 + t))))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let total = merge(&parts).unwrap();
        assert_eq!(total.len(), 4000);
        assert_eq!(total.min(), 1000);
        assert!(total.equivalent(total.max(), 1_000_003));
        // The median of four identical-shape threads is the median of one.
        let one = LatencySummary::of(&parts[0]);
        let all = LatencySummary::of(&total);
        assert!(total.equivalent(all.p50_ns, one.p50_ns), "{all:?} {one:?}");
    }

    #[test]
    fn summary_reads_percentiles() {
        let h = filled(1..=10_000);
        let s = LatencySummary::of(&h);
        assert_eq!(s.count, 10_000);
        assert_eq!(s.min_ns, 1);
        assert!(h.equivalent(s.p50_ns, 5_000));
        assert!(h.equivalent(s.p99_ns, 9_900));
        assert!(h.equivalent(s.p999_ns, 9_990));
        assert!(h.equivalent(s.max_ns, 10_000));
        assert!((s.mean_ns - 5_000.5).abs() < 5.0);
        assert_eq!(LatencySummary::of(&new_histogram()).count, 0);
    }

    #[test]
    fn encode_decode_round_trip() {
        let h = filled([5, 50, 500, 5_000_000, 3_000_000_000]);
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back, h);
        assert!(decode("not base64!").is_err());
        assert!(decode("aGVsbG8=").is_err());
    }

    #[test]
    fn interval_log_round_trip_keeps_tags_and_counts() {
        let a = filled(1..=300);
        let b = filled([7; 42]);
        let log = write_interval_log(
            &["test".into()],
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            &[
                LogInterval {
                    tag: "instantiate",
                    start: Duration::ZERO,
                    duration: Duration::from_secs(1),
                    histogram: &a,
                },
                LogInterval {
                    tag: "call",
                    start: Duration::ZERO,
                    duration: Duration::from_secs(1),
                    histogram: &b,
                },
            ],
        )
        .unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1700000000.000"), "{text}");
        let back = read_interval_log(&log).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].0.as_deref(), Some("instantiate"));
        assert_eq!(back[0].1, a);
        assert_eq!(back[1].1.len(), 42);
        assert!(read_interval_log(b"#just a comment\n").is_err());
    }

    #[test]
    fn percentile_distribution_has_hgrm_shape() {
        let h = filled((1..=1000).map(|i| i * 1000));
        let text = percentile_distribution(&h, 1000.0, 5);
        let mut lines = text.lines();
        assert!(lines.next().unwrap().contains("1/(1-Percentile)"));
        assert_eq!(lines.next(), Some(""));
        let rows: Vec<&str> = text
            .lines()
            .skip(2)
            .filter(|l| !l.starts_with('#'))
            .collect();
        let first: Vec<&str> = rows[0].split_whitespace().collect();
        assert_eq!(first[0], "1.000"); // 1000 ns in microseconds
        let last: Vec<&str> = rows.last().unwrap().split_whitespace().collect();
        assert_eq!(last.len(), 3, "last row has no 1/(1-p) column");
        assert_eq!(last[1], "1.000000000000");
        assert_eq!(last[2], "1000");
        // Total counts are cumulative and never decrease.
        let counts: Vec<u64> = rows
            .iter()
            .map(|r| r.split_whitespace().nth(2).unwrap().parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
        assert!(text.contains("Total count    =         1000]"), "{text}");
    }

    #[test]
    fn timer_floor_is_small_and_ordered() {
        let f = timer_floor(10_000);
        assert_eq!(f.samples, 10_000);
        assert!(f.min_ns >= 1 && f.min_ns <= f.p50_ns && f.p50_ns <= f.p99_ns);
        // A clock read costing a millisecond would make every figure meaningless.
        assert!(f.p50_ns < 1_000_000, "{f:?}");
    }
}

/// One timed phase's latency and where its full histogram was saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PhaseLatency {
    /// Phase name (`instantiate`, `call`, `drop`, `cycle`, `acquire`, ...).
    pub phase: String,
    /// Percentiles over all threads.
    pub summary: LatencySummary,
    /// The `.hlog` interval log (V2 deflate, base64), relative to the JSON file's folder.
    pub hlog_path: Option<String>,
    /// The `.hgrm` percentile distribution (microseconds), relative to the JSON file's folder.
    pub hgrm_path: Option<String>,
}

impl PhaseLatency {
    /// A phase summarised from its histogram; the paths are set when it is saved.
    pub fn of(phase: &str, h: &Hist) -> PhaseLatency {
        PhaseLatency {
            phase: phase.to_string(),
            summary: LatencySummary::of(h),
            hlog_path: None,
            hgrm_path: None,
        }
    }
}

/// The merged histograms of a run, to be saved next to the result.
pub struct Histograms {
    /// Phase name and histogram, in report order.
    pub named: Vec<(String, Hist)>,
    /// When the timed part started.
    pub started: SystemTime,
    /// Length of the timed part.
    pub wall: Duration,
}
