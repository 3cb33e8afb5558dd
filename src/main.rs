//! The command line: parses arguments, runs the pipeline, prints for people, sets the exit code
//! (0 success, 1 `diff` found changes, 2 any error).

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use runnergen::Error;
use runnergen::diff::{self, Style};
use runnergen::write;

#[derive(Parser)]
#[command(
    name = "runnergen",
    version,
    about = "Compile one YAML fleet spec into the Packer and Terraform of a self-scaling GitLab Runner fleet on AWS.",
    after_help = "Example:\n  runnergen validate fleet.yaml\n  runnergen render fleet.yaml\n  runnergen diff fleet.yaml\n  runnergen plan fleet.yaml"
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
    /// Write the Packer and Terraform files of a fleet into its output folder.
    ///
    /// Writes only files whose contents or execute bit changed, each atomically, and keeps a
    /// manifest (`.runnergen-manifest.json`) of what it generated: generated files the spec no
    /// longer produces are removed, files runnergen never generated are never touched, and a
    /// generated file edited by hand stops render unless `--force` is given.
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
    /// Show what `render` would change, without writing anything, and what applying it does to
    /// running jobs.
    ///
    /// After the files' diff, a line per pool whose jobs or job intake an apply touches: instances
    /// replaced by instance refresh, an autoscaler manager replaced (the pool starts no job until
    /// the old one has drained), live settings applied without a replacement, a runner made anew
    /// in GitLab, a pool removed.
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
        /// Colour the heatmaps: `auto` on a terminal unless NO_COLOR is set.
        #[arg(long, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
        color: ColorChoice,
    },
    /// Print the fleet spec's JSON Schema.
    #[command(after_help = "Example:\n  runnergen schema > fleet.schema.json")]
    Schema,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl ColorChoice {
    fn enabled(self, terminal: bool) -> bool {
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

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let color = ColorChoice::Auto.enabled(std::io::stderr().is_terminal());
    std::panic::set_hook(Box::new(runnergen::diagnostic::report_panic));
    match std::panic::catch_unwind(|| run(cli)) {
        Ok(Ok(code)) => ExitCode::from(code),
        Ok(Err(e)) => {
            eprint!("{}", e.render(color));
            ExitCode::from(2)
        }
        // The hook has said what happened.
        Err(_) => ExitCode::from(2),
    }
}

fn run(cli: Cli) -> Result<u8, Error> {
    match cli.command {
        Command::Validate { spec } => {
            let fleet = load(&spec)?;
            println!(
                "{}: valid fleet `{}` with {}",
                runnergen::diagnostic::printable(&spec.display().to_string()),
                fleet.name,
                runnergen::diagnostic::plural(fleet.pools.len(), "pool")
            );
            Ok(0)
        }
        Command::Render { spec, out, force } => {
            let fleet = load(&spec)?;
            let plan = runnergen::render_fleet(&fleet)?;
            let out = out.unwrap_or_else(|| write::default_out(&spec));
            let set = diff::compare(&plan, &out)?;
            let conflicts: Vec<&diff::Change> = set.conflicts().collect();
            if !force && !conflicts.is_empty() {
                let style = Style { color: ColorChoice::Auto.enabled(std::io::stderr().is_terminal()) };
                for change in &conflicts {
                    eprint!("{}", diff::file_diff(change, style));
                }
                return Err(Error::HandEdited { paths: conflicts.iter().map(|c| c.path().to_owned()).collect() });
            }
            write::apply(&set)?;
            print_out(&write::report(&set))?;
            let required = runnergen::required_in_gitlab(&fleet);
            if !required.is_empty() {
                let mut text = String::from("Required in GitLab:\n");
                for (n, line) in required.iter().enumerate() {
                    text.push_str(&format!("  {}. {line}\n", n + 1));
                }
                eprint!("{text}");
            }
            Ok(0)
        }
        Command::Diff { spec, out, color, stat } => {
            let fleet = load(&spec)?;
            let plan = runnergen::render_fleet(&fleet)?;
            let out = out.unwrap_or_else(|| write::default_out(&spec));
            let set = diff::compare(&plan, &out)?;
            let style = Style { color: color.enabled(std::io::stdout().is_terminal()) };
            let mut text = if stat { diff::stat(&set, style) } else { diff::full_diff(&set, style) };
            text.push_str(&runnergen::impact::render(&runnergen::impact::impact(&set, &fleet)));
            print_out(&text)?;
            Ok(if set.changes.is_empty() { 0 } else { 1 })
        }
        Command::Plan { spec, format, prices, baseline, svg, color } => {
            let fleet = load(&spec)?;
            let prices = match &prices {
                Some(path) => Some(runnergen::plan::Prices::parse(&runnergen::load::load(path)?)?),
                None => None,
            };
            let price_error = |message| Error::Price { message };
            let plan = runnergen::plan::Plan::new(&fleet, prices.as_ref()).map_err(price_error)?;
            let before = match &baseline {
                Some(path) => Some(runnergen::plan::Plan::new(&load(path)?, prices.as_ref()).map_err(price_error)?),
                None => None,
            };
            if let Some(path) = &svg {
                std::fs::write(path, runnergen::plan::svg::render(&plan)).map_err(|source| Error::Write {
                    path: runnergen::diagnostic::printable(&path.display().to_string()),
                    source,
                })?;
            }
            let text = match format {
                Format::Json => runnergen::plan::json::render(&plan, before.as_ref()),
                Format::Text => {
                    let name = baseline.as_ref().map(|p| runnergen::diagnostic::printable(&p.display().to_string()));
                    let baseline = before.as_ref().zip(name.as_deref());
                    runnergen::plan::text::render(&plan, baseline, color.enabled(std::io::stdout().is_terminal()))
                }
            };
            print_out(&text)?;
            Ok(0)
        }
        Command::Schema => {
            print!("{}", runnergen::shape::SCHEMA);
            Ok(0)
        }
    }
}

/// Loads a spec and prints its warnings to standard error.
fn load(spec: &std::path::Path) -> Result<runnergen::Fleet, Error> {
    let loaded = runnergen::load(spec)?;
    eprint!("{}", loaded.warnings(ColorChoice::Auto.enabled(std::io::stderr().is_terminal())));
    Ok(loaded.fleet)
}

/// Prints to standard output. A reader that went away (`runnergen diff | head`) is not an error;
/// anything else that stops the output is.
fn print_out(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output { source: e }),
        _ => Ok(()),
    }
}
