//! The command line: parses arguments, runs the pipeline, prints for people, sets the exit code
//! (0 success, 1 `diff` found changes, 2 any error).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use runnergen::Error;

#[derive(Parser)]
#[command(
    name = "runnergen",
    version,
    about = "Compile one YAML fleet spec into the Packer and Terraform of a self-scaling GitLab Runner fleet on AWS.",
    after_help = "Example:\n  runnergen validate fleet.yaml\n  runnergen render fleet.yaml\n  runnergen diff fleet.yaml"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a fleet spec and report every problem in it.
    #[command(after_help = "Example:\n  runnergen validate examples/multi-pool/fleet.yaml")]
    Validate {
        /// The fleet spec (YAML).
        spec: PathBuf,
    },
    /// Write the Packer and Terraform files of a fleet.
    #[command(after_help = "Example:\n  runnergen render fleet.yaml\n  runnergen render fleet.yaml --out deploy/")]
    Render {
        /// The fleet spec (YAML).
        spec: PathBuf,
        /// Output folder. Default: `runnergen-out` beside the spec.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Show what `render` would change, without writing anything. Exit 1 when something would.
    #[command(after_help = "Example:\n  runnergen diff fleet.yaml\n  runnergen diff fleet.yaml --out deploy/")]
    Diff {
        /// The fleet spec (YAML).
        spec: PathBuf,
        /// Output folder. Default: `runnergen-out` beside the spec.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Print the fleet spec's JSON Schema.
    #[command(after_help = "Example:\n  runnergen schema > fleet.schema.json")]
    Schema,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprint!("{}", e.render(color));
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Validate { spec } => {
            let fleet = runnergen::load_fleet(&spec)?;
            println!(
                "{}: valid fleet `{}` with {}",
                spec.display(),
                fleet.name,
                runnergen::diagnostic::plural(fleet.pools.len(), "pool")
            );
            Ok(0)
        }
        Command::Render { spec, out } | Command::Diff { spec, out } => {
            let fleet = runnergen::load_fleet(&spec)?;
            let _plan = runnergen::render_fleet(&fleet)?;
            let _ = out;
            Err(Error::Usage("render and diff are not available yet: the spec is valid, nothing was written".into()))
        }
        Command::Schema => {
            print!("{}", runnergen::validate::SCHEMA);
            Ok(0)
        }
    }
}
