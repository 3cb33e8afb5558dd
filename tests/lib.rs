//! All integration tests, in one binary so they build once.

mod aws_emulator;
mod common;
mod examples;
mod firewall;
mod fuzz;
mod lifecycle;
mod packer;
mod provision;
mod schedule;
mod spec_errors;
mod terraform;
mod write_and_diff;
