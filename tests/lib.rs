//! The tests that need nothing but Rust: what `cargo test` runs on any machine. The tests that
//! check the output with the real external tools are in `tools.rs` (`--features tool-tests`),
//! which `scripts/test`, and so CI, always runs.

mod autoscaler;
mod common;
mod docs;
mod examples;
mod import;
mod init;
mod landing_zone;
mod landing_zone_image;
mod monitoring;
mod next_steps;
mod plan;
mod schedule;
mod spec_errors;
mod spot_fallback;
mod terraform_autoscaler;
mod terraform_cache_logs;
mod terraform_groups;
mod terraform_iam;
mod terraform_module;
mod terraform_network;
mod terraform_runners;
mod terraform_schedules;
mod tf;
mod write_and_diff;
