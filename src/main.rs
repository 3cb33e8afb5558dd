//! The command line: parses arguments, runs the pipeline, prints for people, sets the exit code
//! (0 success, 1 `diff` found changes, 2 any error).

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;

use clap::Parser as _;

use runnergen::Error;
use runnergen::cli::{Cli, ColorChoice, Command, Format};
use runnergen::diff::{self, Style};
use runnergen::write;

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
            let fleet = load_and_warn(&spec)?;
            let mut text = format!(
                "{}: valid fleet `{}` with {}\n",
                runnergen::diagnostic::printable(&spec.display().to_string()),
                fleet.name,
                runnergen::diagnostic::plural(fleet.pools.len(), "pool")
            );
            // Windows in words, so that a swapped `from` and `to` shows as overnight.
            for pool in &fleet.pools {
                for (zone, window) in pool.windows() {
                    text.push_str(&format!("  pool {}, {zone}: {window}\n", pool.name));
                }
            }
            print_out(&text)?;
            Ok(0)
        }
        Command::Render { spec, out, force } => {
            let fleet = load_and_warn(&spec)?;
            let files = runnergen::render::render(&fleet)?;
            let out = out.unwrap_or_else(|| write::default_out(&spec));
            let set = diff::compare(&files, &out)?;
            let conflicts: Vec<&diff::Change> = set.conflicts().collect();
            if !force && !conflicts.is_empty() {
                let style = Style { color: ColorChoice::Auto.enabled(std::io::stderr().is_terminal()) };
                for change in &conflicts {
                    eprint!("{}", diff::file_diff(change, style));
                }
                return Err(Error::HandEdited { paths: conflicts.iter().map(|c| c.path().to_owned()).collect() });
            }
            write::apply(&set)?;
            let mut text = write::report(&set);
            if let Some(steps) = files.get(runnergen::render::next_steps::OUTPUT.path) {
                let path = out.join(runnergen::render::next_steps::OUTPUT.path);
                let shown = runnergen::diagnostic::printable(&path.display().to_string());
                // The file's first line is its generated-file header.
                let body = steps.contents.split_once('\n').map_or("", |(_, rest)| rest);
                text.push_str(&format!("\nNext steps, also in {shown}:\n{body}"));
            }
            print_out(&text)?;
            Ok(0)
        }
        Command::Diff { spec, out, color, stat } => {
            let fleet = load_and_warn(&spec)?;
            let files = runnergen::render::render(&fleet)?;
            let out = out.unwrap_or_else(|| write::default_out(&spec));
            let set = diff::compare(&files, &out)?;
            let style = Style { color: color.enabled(std::io::stdout().is_terminal()) };
            let mut text = if stat { diff::stat(&set, style) } else { diff::full_diff(&set, style) };
            text.push_str(&runnergen::impact::render(&runnergen::impact::impact(&set, &fleet)));
            print_out(&text)?;
            Ok(u8::from(!set.changes.is_empty()))
        }
        Command::Plan { spec, format, prices, baseline, svg, color, demand } => {
            let fleet = load_and_warn(&spec)?;
            let mut demands = std::collections::BTreeMap::new();
            for item in &demand {
                let parsed =
                    item.split_once('=').and_then(|(pool, hours)| Some((pool, hours.trim().parse::<f64>().ok()?)));
                let Some((pool, hours)) = parsed else {
                    return Err(Error::Price {
                        message: format!(
                            "--demand {}: expected POOL=HOURS, an autoscaler pool's jobs in job-hours a week, such as build=120",
                            runnergen::diagnostic::printable(item)
                        ),
                    });
                };
                demands.insert(pool.to_owned(), hours);
            }
            let prices = match &prices {
                Some(path) => Some(runnergen::week::Prices::read(path)?),
                None => None,
            };
            let price_error = |message| Error::Price { message };
            let plan = runnergen::week::Plan::with_demand(&fleet, prices.as_ref(), &demands).map_err(price_error)?;
            let before = match &baseline {
                Some(path) => {
                    Some(runnergen::week::Plan::new(&load_and_warn(path)?, prices.as_ref()).map_err(price_error)?)
                }
                None => None,
            };
            if let Some(path) = &svg {
                std::fs::write(path, runnergen::week::svg::render(&plan)).map_err(|source| Error::Write {
                    path: runnergen::diagnostic::printable(&path.display().to_string()),
                    source,
                })?;
            }
            let text = match format {
                Format::Json => runnergen::week::json::render(&plan, before.as_ref()),
                Format::Text => {
                    let name = baseline.as_ref().map(|p| runnergen::diagnostic::printable(&p.display().to_string()));
                    let baseline = before.as_ref().zip(name.as_deref());
                    runnergen::week::text::render(&plan, baseline, color.enabled(std::io::stdout().is_terminal()))
                }
            };
            print_out(&text)?;
            Ok(0)
        }
        Command::Init { file, region, vpc_id, subnet_ids, gitlab_url, time_zone, name } => {
            let answers = runnergen::init::Answers { name, region, vpc_id, subnet_ids, gitlab_url, time_zone };
            runnergen::init::init(&file, &answers)?;
            let shown = runnergen::diagnostic::printable(&file.display().to_string());
            print_out(&format!(
                "wrote {shown}: a spot docker pool with office hours. Read its comments, adjust it, then:\n  runnergen validate {shown}\n  runnergen render {shown}\n"
            ))?;
            Ok(0)
        }
        Command::Import { file, out, force } => {
            let imported = runnergen::import::import(&file)?;
            match &out {
                Some(path) => runnergen::import::write_spec(path, &imported.spec, force)?,
                None => print_out(&imported.spec)?,
            }
            eprint!("{}", imported.report);
            if let Some(path) = &out {
                let shown = runnergen::diagnostic::printable(&path.display().to_string());
                eprintln!("\nwrote {shown}: fill in its FILL-IN values, then `runnergen validate {shown}`");
            }
            Ok(0)
        }
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut runnergen::cli::command(), "runnergen", &mut script);
            print_out(&String::from_utf8_lossy(&script))?;
            Ok(0)
        }
        Command::Schema => {
            print!("{}", runnergen::shape::SCHEMA);
            Ok(0)
        }
    }
}

/// Loads a spec and prints its warnings to standard error.
fn load_and_warn(spec: &std::path::Path) -> Result<runnergen::Fleet, Error> {
    let loaded = runnergen::load_spec(spec)?;
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
