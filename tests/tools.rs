//! The tests that check the output with the real tools and run the helpers against stand-ins,
//! emulators and network namespaces: shellcheck, bash, systemd-analyze, HashiCorp's HCL parser,
//! packer, checkov, the providers' schemas, nft, gpg, moto, the AWS CLI, rsvg-convert,
//! hadolint, and zsh and fish for the completion scripts; and the boot test, which boots the
//! baked units under a real systemd in a Debian container (debootstrap, systemd-nspawn).
//! `scripts/test` installs them and runs these (`cargo test --features tool-tests`); a missing
//! tool fails a test, never skips it.

mod aws_emulator;
mod boot;
mod common;
mod completions;
mod dockerfile;
mod firewall;
mod fuzz;
mod landing_zone;
mod landing_zone_bake;
mod lifecycle;
mod packer;
mod plan_svg;
mod provision;
mod terminal;
mod terraform;
mod tf;
