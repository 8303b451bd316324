//! Measurements: process memory and page faults ([`memory`]), latency
//! histograms and the clock's own cost ([`latency`]), line fits over samples
//! ([`fit`]), what else the machine did while a variant measured
//! ([`disturbance`]), the dirty page regions a request leaves for the
//! allocator's reset ([`dirty`]), where a churn's page faults and waits came from
//! ([`faults`]), and the process's file-backed mappings ([`mappings`]).

pub mod dirty;
pub mod disturbance;
pub mod faults;
pub mod fit;
pub mod latency;
pub mod mappings;
pub mod memory;
