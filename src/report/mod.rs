//! Result output, one module per format: JSON (the contract) and Markdown
//! (the side-by-side table people read, also printed on stdout).

pub mod compare;
pub mod json;
pub mod markdown;
pub mod plot;
pub mod vs_baseline;
pub mod warnings;

/// Formats bytes as MiB with two decimals (`"64.00 MiB"`).
pub fn mib(bytes: f64) -> String {
    format!("{:.2} MiB", bytes / 1048576.0)
}

/// Formats bytes as GiB with one decimal.
pub fn gib(bytes: f64) -> String {
    format!("{:.1} GiB", bytes / 1073741824.0)
}

/// Formats nanoseconds in the most readable unit.
pub fn duration(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}
