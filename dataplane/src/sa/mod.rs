//! Per-SA configuration and runtime state: sequence numbers, anti-replay, lifetimes, counters.
