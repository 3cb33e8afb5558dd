//! All integration tests, in one binary so they build once.

mod common;
mod examples;
mod packer;
mod schedule;
mod spec_errors;
mod terraform;
mod write_and_diff;
