//! Measurements: process memory and page faults ([`memory`]), latency
//! histograms and the clock's own cost ([`latency`]), line fits over samples
//! ([`fit`]), what else the machine did while a variant measured
//! ([`disturbance`]), and where a churn's page faults and waits came from
//! ([`faults`]).

pub mod disturbance;
pub mod faults;
pub mod fit;
pub mod latency;
pub mod memory;
