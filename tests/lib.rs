//! All integration tests, in one binary so they build once.

#[allow(dead_code)] // until every helper has a user
mod common;
mod packer;
mod schedule;
mod spec_errors;
mod terraform;
mod write_and_diff;
