//! Measurements: process memory and page faults ([`memory`]), latency
//! histograms and the clock's own cost ([`latency`]).

pub mod latency;
pub mod memory;
