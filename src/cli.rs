//! The command line's grammar: subcommands, arguments and their help, shared by the binary,
//! the shell completions and the man page (`docs/runnergen.1`). Parsing only; `main.rs` runs
//! the commands.

use std::path::PathBuf;

use clap::{CommandFactory as _, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "runnergen",
    version,
    about = "Compile one YAML fleet spec into the Packer and Terraform of a self-scaling GitLab Runner fleet on AWS.",
    after_help = "Example:\n  runnergen validate fleet.yaml\n  runnergen render fleet.yaml\n  runnergen diff fleet.yaml\n  runnergen plan fleet.yaml"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check a fleet spec and report every problem in it.
    #[command(after_help = "Example:\n  runnergen validate examples/multi-pool/fleet.yaml")]
    Validate {
        /// The fleet spec (YAML).
        spec: PathBuf,
    },
    /// Write the Packer and Terraform files of a fleet into its output folder.
    ///
    /// Writes only files whose contents or execute bit changed, each atomically, and keeps a
    /// manifest (`.runnergen-manifest.json`) of what it generated: generated files the spec no
    /// longer produces are removed, files runnergen never generated are never touched, and a
    /// generated file edited by hand stops render unless `--force` is given.
    ///
    /// Then prints the steps from here to a running fleet, which it also writes to
    /// `NEXT-STEPS.md` in the output folder: the runners to create in GitLab and their tokens to
    /// store in SSM (with the commands), the bake, `terraform apply`, and what an apply in the
    /// middle of a schedule window does.
    #[command(after_help = "Example:\n  runnergen render fleet.yaml\n  runnergen render fleet.yaml --out deploy/")]
    Render {
        /// The fleet spec (YAML).
        spec: PathBuf,
        /// Output folder. Default: `runnergen-out` beside the spec.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Overwrite (or remove) generated files that were edited by hand, and files in the way
        /// that runnergen did not generate.
        #[arg(long)]
        force: bool,
    },
    /// Show what `render` would change, without writing anything.
    ///
    /// Exit status: 0 when nothing would change, 1 when something would, 2 on any error.
    #[command(after_help = "Example:\n  runnergen diff fleet.yaml\n  runnergen diff fleet.yaml --out deploy/ --stat")]
    Diff {
        /// The fleet spec (YAML).
        spec: PathBuf,
        /// Output folder. Default: `runnergen-out` beside the spec.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Colour the diff: `auto` on a terminal unless NO_COLOR is set.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
        color: ColorChoice,
        /// Print only the changed files' names and the summary line.
        #[arg(long)]
        stat: bool,
    },
    /// Add up the fleet's week: instance-hours (and cost) per pool and in total, with a heatmap.
    ///
    /// Writes nothing unless asked (`--svg`). Exit status: 0, or 2 on any error.
    #[command(
        after_help = "Example:\n  runnergen plan fleet.yaml\n  runnergen plan fleet.yaml --prices prices.yaml --format json\n  git show origin/main:fleet.yaml > /tmp/base.yaml && runnergen plan fleet.yaml --baseline /tmp/base.yaml\n  runnergen plan fleet.yaml --svg week.svg"
    )]
    Plan {
        /// The fleet spec (YAML).
        spec: PathBuf,
        /// `text` (a table and a heatmap per pool) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Hourly prices per instance type (YAML: `currency`, `instance_types`); adds the cost.
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
        /// Another version of the spec: its figures too, and the change from it.
        #[arg(long, value_name = "OLD.yaml")]
        baseline: Option<PathBuf>,
        /// Also write the week as an SVG chart to this file.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// An autoscaler pool's jobs, in job-hours a week: its desired instance-hours become the
        /// warm workers plus the workers those jobs keep busy. Repeat for each pool.
        #[arg(long, value_name = "POOL=HOURS")]
        demand: Vec<String>,
        /// Colour the heatmaps: `auto` on a terminal unless NO_COLOR is set.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
        color: ColorChoice,
    },
    /// Write a commented starting spec: a spot docker pool with office hours.
    ///
    /// The pool keeps one instance outside office hours and more within them, in the time zone
    /// given. The spec is checked like `validate` does before it is written; an existing file is
    /// never overwritten.
    #[command(
        after_help = "Example:\n  runnergen init fleet.yaml --region eu-central-1 --vpc-id vpc-0a1b2c3d4e5f60718 \\\n    --subnet-ids subnet-0a1b2c3d4e5f60718,subnet-0f1e2d3c4b5a69788 \\\n    --gitlab-url https://gitlab.example.com --time-zone Europe/Berlin"
    )]
    Init {
        /// The spec file to write (it must not exist).
        file: PathBuf,
        /// The AWS region, such as eu-central-1.
        #[arg(long)]
        region: String,
        /// The VPC the runners run in.
        #[arg(long, value_name = "VPC")]
        vpc_id: String,
        /// Its private subnets, comma-separated.
        #[arg(long, value_name = "SUBNETS", value_delimiter = ',', required = true)]
        subnet_ids: Vec<String>,
        /// Your GitLab's address, such as `https://gitlab.example.com`.
        #[arg(long, value_name = "URL")]
        gitlab_url: String,
        /// The IANA time zone of the office hours.
        #[arg(long, value_name = "ZONE", default_value = "UTC")]
        time_zone: String,
        /// The fleet's name, which prefixes every AWS resource.
        #[arg(long, default_value = "ci")]
        name: String,
    },
    /// Write a fleet spec from what runs today: cattle-ops module blocks or a config.toml.
    ///
    /// Reads a Terraform file with `module` blocks of cattle-ops/terraform-aws-gitlab-runner
    /// (7.x to 9.x), or a gitlab-runner `config.toml`, told apart by content; each module block
    /// or `[[runners]]` becomes a pool. The spec goes to standard output (or `--out`), the report
    /// to standard error: what was carried over, assumed from defaults, left unresolved (a
    /// `FILL-IN` placeholder in the spec, which `validate` refuses until it is filled in), has
    /// no equivalent, and changed on purpose. Secrets are never copied. Exit status: 0 when a
    /// spec was written, 2 when the input cannot be read or holds nothing to import.
    #[command(
        after_help = "Example:\n  runnergen import main.tf > fleet.yaml\n  runnergen import /etc/gitlab-runner/config.toml --out fleet.yaml"
    )]
    Import {
        /// The Terraform file or config.toml to import.
        file: PathBuf,
        /// Write the spec to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Overwrite the `--out` file if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print the shell completion script for runnergen.
    #[command(
        after_help = "Example:\n  runnergen completions bash > ~/.local/share/bash-completion/completions/runnergen\n  runnergen completions zsh > ~/.zfunc/_runnergen    # with ~/.zfunc in fpath\n  runnergen completions fish > ~/.config/fish/completions/runnergen.fish"
    )]
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the fleet spec's JSON Schema.
    #[command(after_help = "Example:\n  runnergen schema > fleet.schema.json")]
    Schema,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    /// Whether to colour output that goes to a terminal (`terminal`) or not.
    pub fn enabled(self, terminal: bool) -> bool {
        match self {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal && !no_color(),
        }
    }
}

/// NO_COLOR set to anything but the empty string (no-color.org).
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The whole command line as clap sees it, for completions and the man page.
pub fn command() -> clap::Command {
    Cli::command()
}
