//! Measurements: process memory and page faults ([`memory`]), latency
//! histograms and the clock's own cost ([`latency`]), and line fits over
//! samples ([`fit`]).

pub mod fit;
pub mod latency;
pub mod memory;
