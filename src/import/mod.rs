//! `runnergen import`: a fleet spec from what runs today, either the `module` blocks of the
//! cattle-ops module (github.com/cattle-ops/terraform-aws-gitlab-runner, 7.x to 9.x) in a
//! Terraform file, or a gitlab-runner `config.toml`. The kind is told by content. Each module
//! block, or each `[[runners]]`, becomes one pool.
//!
//! It never guesses a reference and never copies a secret: where the input does not hold a
//! literal, the spec gets a string that starts with `FILL-IN` and says what it stands for, which
//! `validate` refuses at its place. Reads the one input; returns the spec's text and a report
//! for people, grouped; writes nothing.

mod config_toml;
mod cron;
mod module;
mod value;

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use crate::Error;
use crate::diagnostic::{LocatedProblem, SpecText};
use value::At;

/// The result of an import.
pub struct Imported {
    /// The fleet spec, with a comment at each value that came from a default, a reference or a
    /// translation.
    pub spec: String,
    /// What was carried over, assumed, left unresolved, left behind and changed, for standard error.
    pub report: String,
}

/// Imports a file: a Terraform file with cattle-ops module blocks, or a `config.toml`.
pub fn import(path: &Path) -> Result<Imported, Error> {
    let source = crate::load::read_text(path)?;
    import_text(&source.name, &source.text)
}

/// Imports text that came from the file `name` (as diagnostics and comments show it).
pub fn import_text(name: &str, text: &str) -> Result<Imported, Error> {
    let base = Path::new(name).file_name().map_or_else(|| name.to_owned(), |n| n.to_string_lossy().into_owned());
    let mut ctx = Ctx { file: crate::diagnostic::printable(&base), text, report: Report::default(), taken: Vec::new() };
    let looks_toml = name.ends_with(".toml") || text.lines().any(|l| l.trim_start().starts_with("[[runners]]"));
    let draft = if looks_toml {
        config_toml::import(&mut ctx).map_err(|p| located(name, text, p))?
    } else {
        module::import(&mut ctx).map_err(|p| located(name, text, p))?
    };
    let Some(draft) = draft else {
        return Err(Error::Read {
            path: crate::diagnostic::printable(name),
            reason: if looks_toml {
                "it holds no [[runners]] to import".into()
            } else {
                "it holds no module block of cattle-ops/terraform-aws-gitlab-runner and is no gitlab-runner config.toml; nothing to import".into()
            },
            source: None,
        });
    };
    let spec = draft.assemble(&mut ctx);
    ctx.report.next.push(
        "then fill in every FILL-IN, `runnergen validate` the spec, `runnergen render` it, and move as docs/migrate.md says: both fleets side by side, then the old one paused, then destroyed".into(),
    );
    Ok(Imported { spec, report: ctx.report.render(&ctx.file, &draft.kind) })
}

/// Writes the spec to `path`: a new file, or over an existing one only with `force`.
pub fn write_spec(path: &Path, spec: &str, force: bool) -> Result<(), Error> {
    use std::io::Write as _;
    let shown = crate::diagnostic::printable(&path.display().to_string());
    let write_error = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::AlreadyExists => Error::OutExists { path: shown.clone() },
        _ => Error::Write { path: shown.clone(), source },
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(write_error)?;
    file.write_all(spec.as_bytes()).map_err(write_error)
}

fn located(name: &str, text: &str, problem: LocatedProblem) -> Error {
    Error::Spec { file: std::sync::Arc::new(SpecText::new(name, text.to_owned())), problems: vec![problem] }
}

/// The input while it is imported: its name, its text and the report so far.
pub(crate) struct Ctx<'a> {
    pub file: String,
    pub text: &'a str,
    pub report: Report,
    /// Pool names given so far.
    pub taken: Vec<String>,
}

impl Ctx<'_> {
    /// A pool name not taken by an earlier pool: a number is added on a collision, and reported.
    pub fn unique_name(&mut self, wanted: &str, from: &str) -> String {
        let mut name = wanted.to_owned();
        let mut n = 2;
        while self.taken.contains(&name) {
            let mut base = wanted.to_owned();
            base.truncate(17);
            name = format!("{}-{n}", base.trim_end_matches('-'));
            n += 1;
        }
        if name != wanted {
            self.report.changed.push(format!(
                "pool `{name}` ({from}): `{wanted}` was taken by an earlier pool, so this one is `{name}`"
            ));
        }
        self.taken.push(name.clone());
        name
    }

    /// `main.tf:12:5`.
    pub fn loc(&self, span: &Range<usize>) -> String {
        let (line, col) = value::line_col(self.text, span.start);
        format!("{}:{line}:{col}", self.file)
    }

    /// A value the input gives for `input` (its name there), for the spec key `key`: a literal is
    /// carried over; a reference becomes a placeholder and is reported. `None` when the input
    /// has no value there at all.
    pub fn take(
        &mut self,
        input: &str,
        key: &str,
        at: Option<&At>,
        encode: impl Fn(&At) -> Option<Node>,
    ) -> Option<Field> {
        let at = at?;
        if let Some((reference, span)) = at.reference() {
            let place = self.loc(&span);
            self.report.unresolved.push(format!("{place}: {input} = {reference} (for `{key}`)"));
            return Some(Field::fill(format!("{reference} at {place}"), Some(format!("{input} is {reference}"))));
        }
        match encode(at) {
            Some(node) => {
                let place = self.loc(&at.span);
                let note = at.via.as_ref().map(|(local, span)| format!("{local}, defined at {}", self.loc(span)));
                let shown = match &at.via {
                    Some((local, _)) => format!("{input} ({local})"),
                    None => input.to_owned(),
                };
                self.report.carried.push(format!("{place}: {shown} -> `{key}`"));
                Some(Field { node, note })
            }
            None => {
                let place = self.loc(&at.span);
                self.report.no_equivalent.push(format!(
                    "{place}: {input} has a value runnergen cannot take for `{key}`; set `{key}` in the spec yourself"
                ));
                Some(Field::fill(format!("{input} at {place} is not a value for {key}"), None))
            }
        }
    }
}

/// One value of the spec and its comment.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    pub node: Node,
    pub note: Option<String>,
}

impl Field {
    pub fn new(node: Node, note: impl Into<String>) -> Self {
        Field { node, note: Some(note.into()) }
    }
    pub fn plain(node: Node) -> Self {
        Field { node, note: None }
    }
    /// A placeholder: `FILL-IN: what`.
    pub fn fill(what: impl std::fmt::Display, note: Option<String>) -> Self {
        Field { node: Node::string(&format!("{}: {what}", crate::shape::FILL_IN)), note }
    }
}

/// The spec as it is written: YAML 1.2, every string double-quoted (JSON's escapes, which YAML
/// reads the same), so that no input text becomes YAML structure.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    /// A scalar or a flow list of scalars, already in YAML.
    Scalar(String),
    Map(Vec<Entry>),
    /// A list of mappings.
    Items(Vec<Vec<Entry>>),
}

impl Node {
    pub fn string(s: &str) -> Node {
        Node::Scalar(serde_json::Value::from(s).to_string())
    }
    pub fn number(n: f64) -> Node {
        Node::Scalar(serde_json::Value::from(n as i64).to_string())
    }
    pub fn boolean(b: bool) -> Node {
        Node::Scalar(b.to_string())
    }
    pub fn strings<S: AsRef<str>>(items: &[S]) -> Node {
        let items: Vec<String> = items.iter().map(|s| serde_json::Value::from(s.as_ref()).to_string()).collect();
        Node::Scalar(format!("[{}]", items.join(", ")))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub field: Field,
}

pub(crate) fn entry(key: &str, field: Field) -> Entry {
    Entry { key: key.to_owned(), field }
}

/// Writes mappings as block YAML, each comment at the end of its line.
fn write_entries(entries: &[Entry], indent: usize, first_prefix: Option<&str>, out: &mut String) {
    for (i, e) in entries.iter().enumerate() {
        let pad = match (i, first_prefix) {
            (0, Some(prefix)) => format!("{}{prefix}", " ".repeat(indent.saturating_sub(prefix.len()))),
            _ => " ".repeat(indent),
        };
        let note = e.field.note.as_ref().map(|n| format!("  # {}", one_line(n))).unwrap_or_default();
        match &e.field.node {
            Node::Scalar(s) => {
                let _ = writeln!(out, "{pad}{}: {s}{note}", e.key);
            }
            Node::Map(children) => {
                let _ = writeln!(out, "{pad}{}:{note}", e.key);
                write_entries(children, indent + 2, None, out);
            }
            Node::Items(items) => {
                let _ = writeln!(out, "{pad}{}:{note}", e.key);
                for item in items {
                    write_entries(item, indent + 4, Some("- "), out);
                }
            }
        }
    }
}

/// A comment's text on one line, without control characters.
fn one_line(text: &str) -> String {
    crate::diagnostic::printable(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// What an import found, grouped for people.
#[derive(Default)]
pub(crate) struct Report {
    pub found: Vec<String>,
    pub carried: Vec<String>,
    pub assumed: Vec<String>,
    pub unresolved: Vec<String>,
    pub no_equivalent: Vec<String>,
    pub changed: Vec<String>,
    pub secrets: Vec<String>,
    pub next: Vec<String>,
}

impl Report {
    fn render(&self, file: &str, kind: &str) -> String {
        let mut out = format!("runnergen import: {file}: {kind}\n");
        let groups: [(&str, &Vec<String>); 8] = [
            ("found", &self.found),
            ("carried over", &self.carried),
            ("assumed from defaults", &self.assumed),
            ("unresolved references (FILL-IN in the spec)", &self.unresolved),
            ("no equivalent in runnergen", &self.no_equivalent),
            ("changed on purpose", &self.changed),
            ("secrets found, not copied", &self.secrets),
            ("next", &self.next),
        ];
        for (title, items) in groups {
            if items.is_empty() {
                continue;
            }
            let _ = writeln!(out, "\n{title} ({}):", items.len());
            for item in items {
                let _ = writeln!(out, "  {}", crate::diagnostic::printable(item));
            }
        }
        out
    }
}

/// What one pool's input says about the fleet as a whole.
#[derive(Default, Clone)]
pub(crate) struct FleetBits {
    pub name: Option<Field>,
    pub region: Option<Field>,
    pub vpc_id: Option<Field>,
    pub subnet_ids: Option<Field>,
    pub url: Option<Field>,
    pub os: Option<Field>,
    /// The gitlab-runner version, its literal when there is one, and where it came from.
    pub runner_version: Option<(Field, Option<String>, String)>,
    pub plugin_version: Option<Field>,
    pub tags: Option<Field>,
    pub cache: Option<Field>,
    pub logs: Option<Field>,
}

/// One pool as imported.
pub(crate) struct PoolDraft {
    /// The name it wants, and what it was derived from.
    pub name: String,
    pub name_from: String,
    pub autoscaler: bool,
    /// Its instance types where known (for the image's architecture).
    pub instance_types: Vec<String>,
    /// The pool's entries after `name`.
    pub entries: Vec<Entry>,
    pub fleet: FleetBits,
}

/// Everything imported, before it is written.
pub(crate) struct Draft {
    /// What the input was recognised as, for the report's first line and the spec's header.
    pub kind: String,
    pub pools: Vec<PoolDraft>,
}

/// Graviton families are arm64, as `validate` reads them.
fn arch_of(types: &[String]) -> Option<&'static str> {
    let arm = types.iter().filter(|t| crate::rules::is_graviton(t)).count();
    match (arm, types.len()) {
        (_, 0) => None,
        (a, n) if a == n => Some("arm64"),
        (0, _) => Some("x86_64"),
        _ => None,
    }
}

/// A pool name runnergen takes: lowercase letters, digits and dashes, starting with a letter,
/// at most 20 characters (the IAM role names the pool prefixes have a limit).
pub(crate) fn pool_name(raw: &str) -> String {
    let mut name = String::new();
    for c in raw.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            name.push(c);
        } else if !name.ends_with('-') && !name.is_empty() {
            name.push('-');
        }
    }
    let name = name.trim_matches('-');
    let mut name =
        if name.starts_with(|c: char| c.is_ascii_lowercase()) { name.to_owned() } else { format!("pool-{name}") };
    name.truncate(20);
    name.trim_end_matches('-').to_owned()
}

impl Draft {
    fn assemble(&self, ctx: &mut Ctx<'_>) -> String {
        let names: Vec<String> = self.pools.iter().map(|p| p.name.clone()).collect();
        let first = |pick: fn(&FleetBits) -> Option<&Field>| -> (Option<Field>, Vec<(String, Field)>) {
            let mut chosen: Option<Field> = None;
            let mut others = Vec::new();
            for (pool, name) in self.pools.iter().zip(&names) {
                if let Some(f) = pick(&pool.fleet) {
                    match &chosen {
                        None => chosen = Some(f.clone()),
                        Some(c) if !matches!((&c.node, &f.node), (Node::Scalar(a), Node::Scalar(b)) if a == b) => {
                            others.push((name.clone(), f.clone()));
                        }
                        Some(_) => {}
                    }
                }
            }
            (chosen, others)
        };
        let mut fleet_field = |key: &str, pick: fn(&FleetBits) -> Option<&Field>, missing: &str| -> Option<Field> {
            let (chosen, others) = first(pick);
            for (pool, f) in others {
                let shown = match &f.node {
                    Node::Scalar(s) => s.clone(),
                    _ => "another value".into(),
                };
                ctx.report.no_equivalent.push(format!(
                    "pool `{pool}` has another `{key}` ({shown}): one spec is one fleet with one `{key}`; import that pool's input into a spec of its own"
                ));
            }
            match chosen {
                Some(c) => Some(c),
                None if missing.is_empty() => None,
                None => {
                    ctx.report.unresolved.push(format!("`{key}`: {missing}"));
                    Some(Field::fill(missing.to_owned(), None))
                }
            }
        };
        let name = fleet_field(
            "name",
            |f| f.name.as_ref(),
            "a name for the fleet (lowercase letters, digits and dashes): it prefixes every AWS resource",
        );
        let region =
            fleet_field("aws.region", |f| f.region.as_ref(), "the AWS region of the fleet, such as eu-central-1");
        let vpc = fleet_field("aws.vpc_id", |f| f.vpc_id.as_ref(), "the VPC of the fleet (vpc-...)");
        let subnets = fleet_field(
            "aws.subnet_ids",
            |f| f.subnet_ids.as_ref(),
            "the private subnets of the fleet, with a NAT gateway or VPC endpoints",
        );
        let tags = fleet_field("aws.tags", |f| f.tags.as_ref(), "");
        let url = fleet_field("gitlab.url", |f| f.url.as_ref(), "the GitLab URL, such as https://gitlab.example.com");
        let os = fleet_field(
            "image.os",
            |f| f.os.as_ref(),
            "ubuntu-22.04, ubuntu-24.04 or amazon-linux-2023: the OS runnergen bakes",
        );
        let any_autoscaler = self.pools.iter().any(|p| p.autoscaler);
        let plugin = if any_autoscaler {
            fleet_field(
                "image.fleeting_plugin_version",
                |f| f.plugin_version.as_ref(),
                "the exact fleeting plugin version to bake, such as 1.2.0 (check GitLab's fleeting-plugin-aws releases)",
            )
        } else {
            None
        };
        let cache = fleet_field("cache", |f| f.cache.as_ref(), "");
        let logs = fleet_field("logs", |f| f.logs.as_ref(), "");

        // The runner version: never bumped silently.
        let needed = if any_autoscaler { (17, 2) } else { (17, 0) };
        let version = self.pools.iter().find_map(|p| p.fleet.runner_version.clone());
        let version = match version {
            Some((field, Some(literal), origin)) => {
                let parsed: Vec<u32> = literal.split('.').filter_map(|p| p.parse().ok()).collect();
                let ok = parsed.len() == 3 && (parsed[0], parsed[1]) >= needed;
                if ok {
                    field
                } else {
                    ctx.report.changed.push(format!(
                        "image.runner_version: {origin} is gitlab-runner {literal}, below {}.{}.0, the oldest runnergen bakes{}; it is not bumped for you: choose the version to run (such as 19.3.0) and fill it in",
                        needed.0,
                        needed.1,
                        if any_autoscaler { " for an autoscaler pool" } else { "" }
                    ));
                    Field::fill(
                        format!(
                            "gitlab-runner {literal} ({origin}) is older than {}.{}.0: choose a current version",
                            needed.0, needed.1
                        ),
                        None,
                    )
                }
            }
            Some((field, None, _)) => field,
            None => {
                let what = "the exact gitlab-runner version to bake, such as 19.3.0 (`gitlab-runner --version` on the old fleet says what runs today)";
                ctx.report.unresolved.push(format!("`image.runner_version`: {what}"));
                Field::fill(what, None)
            }
        };
        let types: Vec<String> = self.pools.iter().flat_map(|p| p.instance_types.clone()).collect();
        let arch = match arch_of(&types) {
            Some(a) => Field::new(Node::string(a), "from the instance types"),
            None if types.is_empty() => {
                let what = "x86_64 or arm64, as the instance types";
                ctx.report.unresolved.push(format!("`image.arch`: {what}"));
                Field::fill(what, None)
            }
            None => {
                let what = "the instance types are of both architectures; runnergen bakes one AMI per spec: pick one, and import the other pools into a spec of their own";
                ctx.report.no_equivalent.push(format!("`image.arch`: {what}"));
                Field::fill(what, None)
            }
        };

        let mut out = String::new();
        let _ = writeln!(out, "# A runnergen fleet spec imported by `runnergen import` from {}", one_line(&ctx.file));
        let _ = writeln!(out, "# ({}).", one_line(&self.kind));
        out.push_str(
            "# Values that start with FILL-IN must be filled in: `runnergen validate` refuses them.\n\
             # The comments say which values came from a default, a reference or a translation;\n\
             # the report of the import lists the rest. Every key: runnergen's docs/spec.md.\n",
        );
        let some = |k: &str, f: Option<Field>| f.map(|f| entry(k, f));
        let mut aws = vec![];
        aws.extend(some("region", region));
        aws.extend(some("vpc_id", vpc));
        aws.extend(some("subnet_ids", subnets));
        aws.extend(some("tags", tags));
        let mut gitlab = vec![];
        gitlab.extend(some("url", url));
        let mut image = vec![];
        image.extend(some("os", os));
        image.push(entry("arch", arch));
        image.push(entry("runner_version", version));
        image.extend(some("fleeting_plugin_version", plugin));
        let pools: Vec<Vec<Entry>> = self
            .pools
            .iter()
            .zip(&names)
            .map(|(p, n)| {
                let mut e = vec![entry("name", Field::new(Node::string(n), format!("from {}", p.name_from)))];
                e.extend(p.entries.iter().cloned());
                e
            })
            .collect();
        let mut top = vec![entry("version", Field::plain(Node::Scalar("1".into())))];
        top.extend(some("name", name));
        top.push(entry("aws", Field::plain(Node::Map(aws))));
        top.push(entry("gitlab", Field::plain(Node::Map(gitlab))));
        top.push(entry("image", Field::plain(Node::Map(image))));
        top.push(entry("pools", Field::plain(Node::Items(pools))));
        top.extend(some("cache", cache));
        top.extend(some("logs", logs));
        write_entries(&top, 0, None, &mut out);
        out
    }
}

/// The report's lines for a pool's token: never copied, stored by hand without a command line.
pub(crate) fn token_steps(report: &mut Report, pool: &str, parameter: &str, region: Option<&str>) {
    let region = region.map_or_else(|| "REGION".to_owned(), crate::quote::shell_word);
    report.next.push(format!(
        "pool `{pool}`: create a new runner in GitLab for it (so that the old one can be paused on its own), then store its glrt- token: read -rs TOKEN && printf '%s' \"$TOKEN\" | aws ssm put-parameter --region {region} --name {} --type SecureString --overwrite --value file:///dev/stdin; unset TOKEN",
        crate::quote::shell_word(parameter)
    ));
}

/// A Go duration for a number of seconds, as gitlab-runner and runnergen write them: `1h30m`.
pub(crate) fn go_duration(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h");
    }
    if m > 0 {
        let _ = write!(out, "{m}m");
    }
    if s > 0 || out.is_empty() {
        let _ = write!(out, "{s}s");
    }
    out
}

/// A Go duration as runnergen's idle time takes it (`1h30m`), from gitlab-runner's (`20m0s`).
pub(crate) fn idle_time(text: &str) -> Option<String> {
    let mut seconds: u64 = 0;
    let mut number = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let n: u64 = number.parse().ok()?;
        number.clear();
        seconds += n * match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    Some(go_duration(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_names_are_valid_names() {
        assert_eq!(pool_name("Docker Autoscaler example"), "docker-autoscaler-ex");
        assert_eq!(pool_name("42"), "pool-42");
        assert_eq!(pool_name("prod_runner"), "prod-runner");
        assert_eq!(pool_name("--"), "pool");
    }

    #[test]
    fn durations() {
        assert_eq!(go_duration(600), "10m");
        assert_eq!(go_duration(5400), "1h30m");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(idle_time("20m0s").as_deref(), Some("20m"));
        assert_eq!(idle_time("1h").as_deref(), Some("1h"));
        assert_eq!(idle_time("ten"), None);
    }
}

/// A pool's values as the importers find them, written in one order.
#[derive(Default)]
pub(crate) struct Pool {
    /// `Some` for an autoscaler pool, with the comment on its `topology` if it has one.
    #[allow(clippy::option_option, reason = "an autoscaler pool, and whether its key has a comment")]
    pub autoscaler: Option<Option<String>>,
    pub executor: Option<Field>,
    pub token_parameter: Option<Field>,
    pub manager_type: Option<Field>,
    pub instance_types: Option<Field>,
    pub spot: Option<Field>,
    pub capacity: Option<Field>,
    pub concurrent: Option<Field>,
    pub volume_gb: Option<Field>,
    pub max_instances: Option<Field>,
    pub capacity_per_instance: Option<Field>,
    pub max_use_count: Option<Field>,
    pub shared: Option<Field>,
    pub idle: Option<Field>,
    pub runner: Vec<Entry>,
    pub docker: Vec<Entry>,
    pub schedule: Option<Field>,
}

impl Pool {
    pub fn entries(self) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut put = |key: &str, f: Option<Field>| {
            if let Some(f) = f {
                out.push(entry(key, f));
            }
        };
        match self.autoscaler {
            Some(note) => {
                put("topology", Some(Field { node: Node::string("autoscaler"), note }));
                put("executor", self.executor);
                put("token_parameter", self.token_parameter);
                put("manager", self.manager_type.map(|f| Field::plain(Node::Map(vec![entry("instance_type", f)]))));
                let mut workers = Vec::new();
                for (key, f) in [
                    ("instance_types", self.instance_types),
                    ("spot", self.spot),
                    ("max_instances", self.max_instances),
                    ("capacity_per_instance", self.capacity_per_instance),
                    ("max_use_count", self.max_use_count),
                    ("shared", self.shared),
                    ("volume_gb", self.volume_gb),
                ] {
                    if let Some(f) = f {
                        workers.push(entry(key, f));
                    }
                }
                put("workers", Some(Field::plain(Node::Map(workers))));
                put("idle", self.idle);
            }
            None => {
                put("executor", self.executor);
                put("token_parameter", self.token_parameter);
                put("instance_types", self.instance_types);
                put("spot", self.spot);
                put("capacity", self.capacity);
                put("concurrent", self.concurrent);
                put("volume_gb", self.volume_gb);
            }
        }
        if !self.runner.is_empty() {
            put("runner", Some(Field::plain(Node::Map(self.runner))));
        }
        if !self.docker.is_empty() {
            put("docker", Some(Field::plain(Node::Map(self.docker))));
        }
        put("schedule", self.schedule);
        out
    }
}

/// An autoscaling policy of the input: its periods and what it keeps idle.
pub(crate) struct Policy {
    pub periods: Vec<(String, Range<usize>)>,
    pub idle_count: Option<u64>,
    /// A Go duration.
    pub idle_time: Option<String>,
    /// The time zone, where it stands, and whether it is a reference (its text) rather than a name.
    pub time_zone: Option<(String, Range<usize>, bool)>,
    pub span: Range<usize>,
}

/// The `idle` mapping: a count of job slots and a time.
pub(crate) fn idle_node(count: u64, time: Option<&str>) -> Node {
    let mut idle = vec![entry("count", Field::plain(Node::number(count as f64)))];
    if let Some(t) = time {
        idle.push(entry("time", Field::plain(Node::string(t))));
    }
    Node::Map(idle)
}

/// runnergen's idle time from an input's: at least one second.
pub(crate) fn idle_time_of(ctx: &mut Ctx<'_>, pool: &str, time: &str, place: &str) -> String {
    if time.trim_end_matches(['0', 's', 'm', 'h']).is_empty() && !time.chars().any(|c| ('1'..='9').contains(&c)) {
        ctx.report
            .changed
            .push(format!("{place}: pool `{pool}`: an idle time of {time}: runnergen's is at least 1s, so it is 1s"));
        return "1s".into();
    }
    time.to_owned()
}

/// The pool's schedule from its policies: a policy for every minute sets the base `idle`
/// (returned), the others become windows. `default_zone` is the input's default time zone.
pub(crate) fn schedule(
    ctx: &mut Ctx<'_>,
    pool: &str,
    base: (u64, Option<String>),
    policies: &[Policy],
    docker_machine: bool,
    default_zone: &str,
) -> ((u64, Option<String>), Option<Field>) {
    let mut base = base;
    let mut windows: Vec<Vec<Entry>> = Vec::new();
    let mut zone: Option<(String, Option<String>)> = None;
    for policy in policies {
        let place = ctx.loc(&policy.span);
        let count = policy.idle_count.unwrap_or(base.0);
        let time = policy.idle_time.clone().map(|t| idle_time_of(ctx, pool, &t, &place)).or_else(|| base.1.clone());
        let policy_zone = policy.time_zone.as_ref().map_or(default_zone.to_owned(), |(z, _, _)| z.clone());
        let mut in_windows = false;
        for (text, span) in &policy.periods {
            let at = ctx.loc(span);
            match cron::period(text, docker_machine) {
                Ok(cron::Period::Always) => {
                    base = (count, time.clone());
                    ctx.report.carried.push(format!("{at}: period {text:?} (every minute) -> pool `{pool}`'s `idle`"));
                }
                Ok(cron::Period::Windows(ws)) => {
                    in_windows = true;
                    for w in ws {
                        if w.whole_day {
                            ctx.report.changed.push(format!(
                                "{at}: pool `{pool}`: period {text:?} covers whole days; runnergen's window ends at 23:59, a minute early"
                            ));
                        }
                        let note = format!("period {text:?} at {at} (cron hours are inclusive)");
                        windows.push(vec![
                            entry("days", Field::new(w.days_yaml(), note)),
                            entry("from", Field::plain(Node::string(&w.from))),
                            entry("to", Field::plain(Node::string(&w.to))),
                            entry("idle", Field::plain(idle_node(count, time.as_deref()))),
                        ]);
                    }
                    ctx.report.carried.push(format!("{at}: period {text:?} -> a window of pool `{pool}`"));
                }
                Err(why) => ctx.report.no_equivalent.push(format!(
                    "{at}: pool `{pool}`: period {text:?} is not read: {why}; write its window by hand (`schedule.windows`)"
                )),
            }
        }
        if in_windows {
            match &zone {
                None => {
                    zone = Some(match &policy.time_zone {
                        Some((text, span, true)) => {
                            let at = ctx.loc(span);
                            ctx.report.unresolved.push(format!("{at}: timezone = {text} (for pool `{pool}`'s `schedule.time_zone`)"));
                            (format!("{}: {text} at {at}", crate::shape::FILL_IN), Some(format!("timezone is {text}")))
                        }
                        Some((_, span, false)) => (policy_zone, Some(format!("timezone at {}", ctx.loc(span)))),
                        None if default_zone.starts_with(crate::shape::FILL_IN) => {
                            let at = ctx.loc(&policy.span);
                            ctx.report.unresolved.push(format!("{at}: pool `{pool}`: `schedule.time_zone`: the policies name no time zone"));
                            (policy_zone, None)
                        }
                        None => (policy_zone, Some(format!("no timezone given: {default_zone}, the default"))),
                    });
                }
                Some((z, _)) if *z != policy_zone => ctx.report.no_equivalent.push(format!(
                    "{place}: pool `{pool}`: this policy's time zone {policy_zone} differs from {z}; a runnergen pool has one time zone: its windows are read in {z}, so shift them by hand"
                )),
                Some(_) => {}
            }
        }
    }
    if windows.is_empty() {
        return (base, None);
    }
    let (zone, note) = zone.unwrap_or((default_zone.to_owned(), None));
    let schedule = vec![
        entry("time_zone", Field { node: Node::string(&zone), note }),
        entry("windows", Field::plain(Node::Items(windows))),
    ];
    (base, Some(Field::plain(Node::Map(schedule))))
}
