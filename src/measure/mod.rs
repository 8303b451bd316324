//! Measurements: process memory and page faults ([`memory`]), latency
//! histograms and the clock's own cost ([`latency`]), line fits over samples
//! ([`fit`]), what else the machine did while a variant measured
//! ([`disturbance`]), where a churn's page faults and waits came from
//! ([`faults`]), and the process's file-backed mappings ([`mappings`]).

pub mod disturbance;
pub mod faults;
pub mod fit;
pub mod latency;
pub mod mappings;
pub mod memory;
