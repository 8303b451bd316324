//! Measurements: process memory and page faults.

pub mod memory;
