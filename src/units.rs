//! How figures are written for people: bytes in MiB/GiB, nanoseconds in
//! the most readable unit.

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

/// Formats a signed change in bytes as whole KiB with its sign (`"+12 KiB"`).
pub fn kib_signed(bytes: f64) -> String {
    format!("{:+.0} KiB", bytes / 1024.0)
}
