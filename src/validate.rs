//! Stage 2: validate a loaded spec. First against the JSON Schema (the single source of truth
//! for the shape), then the rules a schema cannot express. Every problem is collected and
//! located; nothing stops at the first one. Touches no files.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use crate::diagnostic::{Error, Problem, plural};
use crate::load::Source;
use crate::model::{self, Arch};
use crate::spec::{self, Executor, Spec};
use crate::yaml::Node;

/// The fleet spec's JSON Schema, embedded in the binary.
pub const SCHEMA: &str = include_str!("../schemas/fleet.schema.json");

/// AWS limits the generated names and schedules must respect. Scheduled actions: "Quotas for
/// Auto Scaling resources and groups" (EC2 Auto Scaling user guide), a fixed quota of 125 per group.
pub mod limits {
    /// IAM role names.
    pub const ROLE_NAME: usize = 64;
    /// Launch template and instance profile names.
    pub const LAUNCH_TEMPLATE_NAME: usize = 128;
    /// AMI names.
    pub const AMI_NAME: usize = 128;
    /// Scheduled actions on one Auto Scaling group.
    pub const SCHEDULED_ACTIONS_PER_GROUP: usize = 125;
    /// Length of the timestamp Packer appends to the AMI name (`YYYYMMDDhhmmss`).
    pub const AMI_TIMESTAMP: usize = 14;
}

/// The oldest gitlab-runner runnergen bakes: 17.0 brought FF_DISABLE_AUTOMATIC_TOKEN_ROTATION,
/// without which the first instance to rotate the pool's shared token locks out the others.
const MIN_RUNNER: (u32, u32) = (17, 0);

fn schema() -> &'static Value {
    static SCHEMA_VALUE: OnceLock<Value> = OnceLock::new();
    SCHEMA_VALUE.get_or_init(|| serde_json::from_str(SCHEMA).unwrap_or(Value::Null))
}

/// The compiled schema, built once per process.
fn validator() -> Result<&'static jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| jsonschema::draft202012::new(schema()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// Volumes that hand jobs the Docker daemon, and with it root on the instance.
const DOCKER_SOCKETS: [&str; 2] = ["/var/run/docker.sock", "/run/docker.sock"];

/// What is valid but probably not what the user wants, located like problems. Only for a valid
/// spec.
pub fn warnings(spec: &Spec, root: &Node) -> Vec<Problem> {
    let mut warnings = Vec::new();
    for (i, pool) in spec.pools.iter().enumerate() {
        for (j, volume) in pool.docker.iter().flat_map(|d| d.volumes.iter().flatten()).enumerate() {
            let host = volume.split(':').next().unwrap_or_default();
            if DOCKER_SOCKETS.contains(&host.trim_end_matches('/')) {
                let path = ["pools".to_owned(), i.to_string(), "docker".into(), "volumes".into(), j.to_string()];
                warnings.push(
                    Problem::new(value_span(root, &path), "this volume gives every job root on the instance", "the Docker socket")
                        .help("a job that reaches the Docker daemon controls the host, like `privileged: true`, and can read the runner's token: mount it only for projects you trust with the instance"),
                );
            }
        }
    }
    warnings
}

/// Validates a loaded spec and returns its typed form.
pub fn validate(source: &Source) -> Result<Spec, Error> {
    let json = source.root.to_json();
    if let Some(problem) = check_version(&source.root, &json) {
        return Err(source.error(vec![problem]));
    }
    let (mut problems, without_unknown_keys) = schema_problems(&source.root, &json);
    if !problems.is_empty() {
        // Unknown keys alone (typos, mostly) need not hide the other rules' problems: check the
        // spec without them too, so every problem shows at once.
        if validator().is_ok_and(|v| v.is_valid(&without_unknown_keys))
            && let Ok(spec) = serde_json::from_value::<Spec>(without_unknown_keys)
        {
            problems.extend(rule_problems(&spec, &source.root));
            problems.sort_by_key(|p| p.span.start);
        }
        return Err(source.error(problems));
    }
    let spec: Spec = serde_json::from_value(json).map_err(|e| {
        source.error(vec![Problem::new(
            source.root.span.clone(),
            format!("the spec passed the schema but not runnergen's types: {e}"),
            "in this spec",
        )])
    })?;
    let problems = rule_problems(&spec, &source.root);
    if problems.is_empty() { Ok(spec) } else { Err(source.error(problems)) }
}

/// A wrong or missing `version` makes every other message noise: report it alone.
fn check_version(root: &Node, json: &Value) -> Option<Problem> {
    match json.get("version") {
        Some(v) if v.as_u64() == Some(1) => None,
        Some(v) => Some(
            Problem::new(root.locate(["version"]).value, format!("unsupported spec version {v}"), "unsupported")
                .help(format!("runnergen {} reads `version: 1`", env!("CARGO_PKG_VERSION"))),
        ),
        None => Some(
            Problem::new(root.span.start..root.span.start, "the spec has no `version`", "expected `version: 1` here")
                .help("start the file with `version: 1`"),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// Schema

/// The schema's problems, and the spec with every unknown key removed.
fn schema_problems(root: &Node, json: &Value) -> (Vec<Problem>, Value) {
    let mut without_unknown_keys = json.clone();
    let validator = match validator() {
        Ok(v) => v,
        Err(e) => {
            let broken = Problem::new(0..0, format!("runnergen's embedded schema is broken: {e}"), "");
            return (vec![broken], without_unknown_keys);
        }
    };
    let mut problems = Vec::new();
    for error in validator.iter_errors(json) {
        let path: Vec<String> = error.instance_path().iter().map(|s| s.to_string()).collect();
        if let ValidationErrorKind::AdditionalProperties { unexpected } = error.kind()
            && let Some(Value::Object(map)) = pointer_mut(&mut without_unknown_keys, &path)
        {
            unexpected.iter().for_each(|key| drop(map.remove(key)));
        }
        problems.extend(schema_problem(root, json, &path, error.kind()));
    }
    problems.sort_by_key(|p| (p.span.start, p.message.clone()));
    problems.dedup();
    (problems, without_unknown_keys)
}

/// Turns one schema error into problems located in the YAML.
fn schema_problem(root: &Node, json: &Value, path: &[String], kind: &ValidationErrorKind) -> Vec<Problem> {
    let at = root.locate(path.iter().map(String::as_str));
    let here = describe_path(path);
    let sub = schema_at(path);
    let description = sub.and_then(|s| s.get("description")).and_then(Value::as_str).map(str::to_owned);
    let value = pointer(json, path);
    let shown = value.map(short).unwrap_or_default();
    let problem = |message: String, label: &str| {
        let p = Problem::new(at.value.clone(), message, label);
        match &description {
            Some(d) => p.help(format!("{here}: {d}")),
            None => p,
        }
    };
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            let allowed: Vec<&str> = sub
                .and_then(|s| s.get("properties"))
                .and_then(Value::as_object)
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            unexpected
                .iter()
                .map(|key| {
                    let key_path: Vec<&str> = path.iter().map(String::as_str).chain([key.as_str()]).collect();
                    let span = root.locate(key_path).key.unwrap_or_else(|| at.value.clone());
                    let closest = allowed
                        .iter()
                        .map(|a| (strsim::damerau_levenshtein(a, key), *a))
                        .filter(|(d, _)| *d <= 2.max(key.len() / 3))
                        .min();
                    let help = match closest {
                        Some((_, a)) => format!("did you mean `{a}`? {here} takes: {}", allowed.join(", ")),
                        None => format!("{here} takes: {}", allowed.join(", ")),
                    };
                    Problem::new(span, format!("unknown key `{key}` in {here}"), "unknown key").help(help)
                })
                .collect()
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let key_path: Vec<&str> = path.iter().map(String::as_str).chain([name]).collect();
            let wanted = schema_at_str(&key_path).and_then(|s| s.get("description")).and_then(Value::as_str);
            let span = match path.last() {
                // Point at the key that names the incomplete mapping, or at the list item.
                // Underlining a whole list item is noise: its first character says which.
                Some(_) => at.key.clone().unwrap_or(at.value.start..at.value.start + 1),
                None => root.span.start..root.span.start,
            };
            let p = Problem::new(
                span,
                format!("{here} is missing the required key `{name}`"),
                format!("add `{name}:` here"),
            );
            vec![match wanted {
                Some(w) => p.help(format!("`{name}`: {w}")),
                None => p,
            }]
        }
        ValidationErrorKind::Type { kind } => {
            let expected = match kind {
                TypeKind::Single(t) => type_name(&format!("{t:?}")),
                TypeKind::Multiple(ts) => {
                    ts.into_iter().map(|t| type_name(&format!("{t:?}"))).collect::<Vec<_>>().join(" or ")
                }
            };
            let found = value.map(json_type).unwrap_or("nothing");
            vec![problem(format!("{here} must be {expected}, not {found}"), &format!("expected {expected}"))]
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options.as_array().map(|o| o.iter().map(short).collect()).unwrap_or_default();
            let closest = value.and_then(Value::as_str).and_then(|v| {
                options.iter().min_by_key(|o| strsim::damerau_levenshtein(o.trim_matches('"'), v)).cloned()
            });
            let mut p = Problem::new(at.value.clone(), format!("{shown} is not a valid {here}"), "not allowed here");
            p = p.help(match closest {
                Some(c) => format!("expected one of {}; did you mean {c}?", options.join(", ")),
                None => format!("expected one of {}", options.join(", ")),
            });
            vec![p]
        }
        ValidationErrorKind::Pattern { .. } | ValidationErrorKind::AnyOf { .. } => {
            vec![problem(format!("{shown} is not a valid {here}"), "does not have the expected form")]
        }
        ValidationErrorKind::Minimum { limit } => {
            vec![problem(format!("{here} is {shown}; the smallest allowed is {limit}"), &format!("at least {limit}"))]
        }
        ValidationErrorKind::Maximum { limit } => {
            vec![problem(format!("{here} is {shown}; the largest allowed is {limit}"), &format!("at most {limit}"))]
        }
        ValidationErrorKind::MinLength { limit } => {
            vec![problem(format!("{here} is too short (at least {limit} characters)"), "too short")]
        }
        ValidationErrorKind::MaxLength { limit } => {
            vec![problem(format!("{here} is too long (at most {limit} characters)"), "too long")]
        }
        ValidationErrorKind::MinItems { limit } => {
            vec![problem(format!("{here} needs at least {}", plural(*limit as usize, "item")), "too few items")]
        }
        ValidationErrorKind::MaxItems { limit } => {
            vec![problem(format!("{here} takes at most {}", plural(*limit as usize, "item")), "too many items")]
        }
        ValidationErrorKind::UniqueItems => {
            vec![problem(format!("{here} lists the same item twice"), "repeated item")]
        }
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MaxProperties { .. }
            if path.last().is_some_and(|p| p == "scaling") =>
        {
            vec![problem("`scaling` takes exactly one of `busy_percent` or `cpu_percent`".into(), "one target")]
        }
        ValidationErrorKind::MaxProperties { limit } => {
            vec![problem(format!("{here} has more than {limit} entries"), "too many entries")]
        }
        ValidationErrorKind::PropertyNames { .. } => {
            vec![problem(format!("{here} has a key AWS does not accept (1 to 128 characters)"), "invalid key")]
        }
        other => vec![problem(format!("{here}: {}", other_message(other)), "invalid")],
    }
}

fn other_message(kind: &ValidationErrorKind) -> String {
    match kind {
        ValidationErrorKind::Constant { expected_value } => format!("expected {expected_value}"),
        other => format!("{other:?}").chars().take(200).collect(),
    }
}

fn type_name(debug: &str) -> String {
    match debug {
        "Object" => "a mapping".into(),
        "Array" => "a list".into(),
        "String" => "a string".into(),
        "Integer" => "a whole number".into(),
        "Number" => "a number".into(),
        "Boolean" => "true or false".into(),
        "Null" => "empty".into(),
        other => other.to_lowercase(),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "empty",
        Value::Bool(_) => "true or false",
        Value::Number(n) if n.is_i64() || n.is_u64() => "a whole number",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// A value as shown in a message: strings quoted, containers summarised, long text cut.
fn short(value: &Value) -> String {
    match value {
        Value::String(s) if s.chars().count() > 60 => format!("\"{}…\"", s.chars().take(60).collect::<String>()),
        Value::String(s) => format!("\"{s}\""),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
        other => other.to_string(),
    }
}

fn pointer_mut<'a>(json: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(json, |v, seg| match v {
        Value::Object(m) => m.get_mut(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

fn pointer<'a>(json: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(json, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// `pools[0].docker.image`, or `the spec` at the top.
fn describe_path(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if seg.parse::<usize>().is_ok() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    if out.is_empty() { "the spec".into() } else { format!("`{out}`") }
}

fn schema_at(path: &[String]) -> Option<&'static Value> {
    schema_at_str(&path.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The subschema that describes the value at `path`, following `$ref`s into `$defs`.
fn schema_at_str(path: &[&str]) -> Option<&'static Value> {
    let root = schema();
    let deref = |mut s: &'static Value| {
        while let Some(r) = s.get("$ref").and_then(Value::as_str) {
            s = r.strip_prefix("#/$defs/").and_then(|name| root.get("$defs")?.get(name))?;
        }
        Some(s)
    };
    let mut node = deref(root)?;
    for seg in path {
        let next = if let Some(p) = node.get("properties").and_then(|p| p.get(*seg)) {
            p
        } else if seg.parse::<usize>().is_ok() && node.get("items").is_some() {
            node.get("items")?
        } else {
            node.get("additionalProperties").filter(|a| a.is_object())?
        };
        // A property's own description wins over the one of the definition it refers to.
        let resolved = deref(next)?;
        node = if next.get("description").is_some() && resolved.get("description") != next.get("description") {
            next
        } else {
            resolved
        };
        if node.get("$ref").is_some() {
            node = deref(node)?;
        }
    }
    Some(node)
}

// ---------------------------------------------------------------------------------------------
// Rules the schema cannot express

fn rule_problems(spec: &Spec, root: &Node) -> Vec<Problem> {
    let mut problems = Vec::new();
    let at = |path: &[&str]| value_span(root, path);
    let key_at = |path: &[&str]| key_span(root, path);

    // Every string lands in a shell, HCL or systemd somewhere: one line of printable text.
    check_strings(root, &mut problems);

    // GitLab URL.
    if let Err(why) = check_gitlab_url(&spec.gitlab.url) {
        problems.push(
            Problem::new(at(&["gitlab", "url"]), format!("`gitlab.url` is not a usable GitLab URL: {why}"), "here")
                .help("expected the https base URL of the GitLab instance, such as https://gitlab.example.com"),
        );
    }

    // Region and key.
    let partition = model::Partition::of_region(&spec.aws.region);
    if partition.is_none() {
        problems.push(
            Problem::new(at(&["aws", "region"]), format!("`{}` is in an isolated AWS partition", spec.aws.region), "not supported")
                .help("runnergen bakes from GitLab's and AWS's public download sites, which the aws-iso partitions cannot reach; expected a region of the aws, aws-us-gov or aws-cn partition"),
        );
    }
    if let Some(arn) = &spec.aws.ebs_kms_key_arn {
        let fields: Vec<&str> = arn.split(':').collect();
        let wanted_partition = partition.unwrap_or(model::Partition::Aws).name();
        if fields.get(1) != Some(&wanted_partition) || fields.get(3) != Some(&spec.aws.region.as_str()) {
            problems.push(
                Problem::new(at(&["aws", "ebs_kms_key_arn"]), "the key is not in the fleet's region", "another region or partition")
                    .help(format!("EBS encrypts with a key of the volume's own region: expected arn:{wanted_partition}:kms:{}:ACCOUNT:key/KEY-ID", spec.aws.region)),
            );
        }
    }

    // Image.
    if !spec.image.runner_version.at_least(MIN_RUNNER) {
        problems.push(
            Problem::new(
                at(&["image", "runner_version"]),
                format!("gitlab-runner {} cannot keep instances that share a token from rotating it", spec.image.runner_version),
                "too old",
            )
            .help("expected gitlab-runner 17.0.0 or later, such as 19.3.0: FF_DISABLE_AUTOMATIC_TOKEN_ROTATION arrived in 17.0"),
        );
    }
    if let Some(t) = &spec.image.build_instance_type {
        check_instance_type(t, spec.image.arch, at(&["image", "build_instance_type"]), &mut problems);
    }
    let ami_name_len = model::ami_name_prefix(&spec.name, &spec.image.runner_version).len() + 1 + limits::AMI_TIMESTAMP;
    if ami_name_len > limits::AMI_NAME {
        problems.push(
            Problem::new(
                at(&["image", "runner_version"]),
                format!("the AMI name would be {ami_name_len} characters"),
                "too long",
            )
            .help(format!("AWS allows {} characters in an AMI name", limits::AMI_NAME)),
        );
    }

    // Tags.
    if let Some(tags) = &spec.aws.tags {
        // HCL reads every string in NFC, so keys that differ only in their normalisation would be
        // one key to Terraform and Packer (a duplicate they refuse) and to AWS.
        let mut normalised: HashMap<String, &str> = HashMap::new();
        for (key, value) in tags {
            let key_span = key_at(&["aws", "tags", key]);
            // AWS receives (and checks) the normalised text.
            if let Err(why) = check_tag(&crate::resolve::nfc(key), &crate::resolve::nfc(value)) {
                problems.push(
                    Problem::new(key_span.clone(), format!("tag `{key}` is not accepted: {why}"), "this tag")
                        .help("tag keys: 1 to 128 characters, values: up to 256; letters, numbers and spaces of any script (not combining marks, which IAM refuses) and _ . : / = + - @; keys must not start with `aws:` (AWS's) or `runnergen:` (runnergen's), and `Name` is set by runnergen"),
                );
            }
            if let Some(first) = normalised.insert(crate::resolve::nfc(key), key) {
                let (first, second) = if key_span.start < key_at(&["aws", "tags", first]).start {
                    (key.as_str(), first)
                } else {
                    (first, key.as_str())
                };
                problems.push(
                    Problem::new(
                        key_at(&["aws", "tags", second]),
                        format!("tag `{}` is the same key as `{}` once normalised", code_points(second), code_points(first)),
                        "same key",
                    )
                        .related(key_at(&["aws", "tags", first]), "first written here")
                        .help("the two keys differ only in how their characters are composed (Unicode NFC); AWS, Terraform and Packer see one key: keep one of them"),
                );
            }
        }
    }

    // Pools.
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, pool) in spec.pools.iter().enumerate() {
        let idx = i.to_string();
        let p = |rest: &[&str]| -> Vec<String> {
            ["pools", idx.as_str()].iter().chain(rest).map(|s| s.to_string()).collect()
        };
        let at = |path: &[String]| value_span(root, path);
        let key_at = |path: &[String]| key_span(root, path);

        if let Some(first) = seen.insert(&pool.name, i) {
            let first_idx = first.to_string();
            problems.push(
                Problem::new(
                    at(&p(&["name"])),
                    format!("two pools are named `{}`", pool.name),
                    "second pool with this name",
                )
                .related(value_span(root, &["pools", &first_idx, "name"]), "first pool with this name")
                .help("pool names must be unique in a fleet: they name each pool's AWS resources"),
            );
        }
        let role = model::role_name(&model::pool_id(&spec.name, &pool.name));
        if role.len() > limits::ROLE_NAME {
            problems.push(
                Problem::new(
                    at(&p(&["name"])),
                    format!("the IAM role name `{role}` would be {} characters", role.len()),
                    "too long with the fleet name",
                )
                .help(format!(
                    "AWS allows {} characters in a role name: shorten the fleet or pool name by {}",
                    limits::ROLE_NAME,
                    role.len() - limits::ROLE_NAME
                )),
            );
        }

        for (j, t) in pool.instance_types.iter().enumerate() {
            check_instance_type(t, spec.image.arch, at(&p(&["instance_types", &j.to_string()])), &mut problems);
        }
        check_capacity(&pool.capacity, at(&p(&["capacity"])), "`capacity`", &mut problems);

        if let Err(why) = check_ssm_name(&pool.token_parameter) {
            problems.push(
                Problem::new(at(&p(&["token_parameter"])), format!("`{}` is not a valid SSM parameter name: {why}", pool.token_parameter), "here")
                    .help("expected a path such as /fleet/pool/runner-token: segments of letters, digits, _ . -, at most 15 levels, not starting with aws or ssm"),
            );
        }

        let image_volume = spec.image.volume_gb.unwrap_or(crate::resolve::DEFAULT_VOLUME_GB);
        if let Some(v) = pool.volume_gb
            && v < image_volume
        {
            problems.push(
                Problem::new(
                    at(&p(&["volume_gb"])),
                    format!("`volume_gb` {v} is smaller than the AMI's {image_volume} GiB"),
                    "too small",
                )
                .help("an instance's root volume can only be as large as its AMI's or larger"),
            );
        }

        match (&pool.docker, pool.executor) {
            (Some(_), Executor::Shell) => problems.push(
                Problem::new(
                    key_at(&p(&["docker"])),
                    "`docker` settings on a shell pool",
                    "not used by the shell executor",
                )
                .help("remove `docker:` or set `executor: docker`"),
            ),
            (Some(docker), Executor::Docker) => {
                if let Some(image) = &docker.image
                    && let Err(why) = image.parse::<oci_spec::distribution::Reference>()
                {
                    problems.push(
                        Problem::new(
                            at(&p(&["docker", "image"])),
                            format!("`{image}` is not a docker image reference: {why}"),
                            "invalid image",
                        )
                        .help("expected an image reference such as alpine:3.20 or registry.example.com/team/image:tag"),
                    );
                }
                for (j, volume) in docker.volumes.iter().flatten().enumerate() {
                    if volume.split(':').any(|part| part.split('/').any(|seg| seg == "..")) {
                        problems.push(
                            Problem::new(
                                at(&p(&["docker", "volumes", &j.to_string()])),
                                "a docker volume path may not contain `..`",
                                "here",
                            )
                            .help("expected an absolute path without `..`, such as /cache or /srv/cache:/cache:ro"),
                        );
                    }
                }
            }
            _ => {}
        }

        if let Some(schedule) = &pool.schedule {
            check_schedule(i, pool, schedule, root, &mut problems);
        }

        // Demand scaling measures running instances: from zero only a schedule starts one.
        let some_window_starts_one = pool.schedule.iter().flat_map(|s| &s.windows).any(|w| w.capacity.min >= 1);
        if pool.capacity.min == 0 && !some_window_starts_one {
            problems.push(
                Problem::new(at(&p(&["capacity", "min"])), "this pool can never start an instance", "min 0, and no window starts one")
                    .help("with no instance there is no busy-slot or CPU metric, so demand scaling never starts the first one: set `capacity.min` to at least 1, or add a schedule window with `min` of at least 1 for the hours jobs arrive"),
            );
        }
    }
    problems.sort_by_key(|p| p.span.start);
    problems
}

fn value_span<S: AsRef<str>>(root: &Node, path: &[S]) -> Range<usize> {
    root.locate(path.iter().map(AsRef::as_ref)).value
}

/// The key naming the value at `path`, or the value where there is no key.
fn key_span<S: AsRef<str>>(root: &Node, path: &[S]) -> Range<usize> {
    let l = root.locate(path.iter().map(AsRef::as_ref));
    l.key.unwrap_or(l.value)
}

fn check_schedule(
    pool_index: usize,
    pool: &spec::Pool,
    schedule: &spec::Schedule,
    root: &Node,
    problems: &mut Vec<Problem>,
) {
    let idx = pool_index.to_string();
    let p = |rest: &[&str]| -> Vec<String> {
        ["pools", idx.as_str()].iter().chain(rest.iter()).map(|s| s.to_string()).collect()
    };
    let at = |path: &[String]| value_span(root, path);
    if let Some(tz) = &schedule.time_zone
        && tz.parse::<chrono_tz::Tz>().is_err()
    {
        let suggestion = chrono_tz::TZ_VARIANTS
            .iter()
            .map(|z| z.name())
            .min_by_key(|z| strsim::damerau_levenshtein(&z.to_lowercase(), &tz.to_lowercase()));
        let mut problem = Problem::new(
            at(&p(&["schedule", "time_zone"])),
            format!("`{tz}` is not an IANA time zone"),
            "unknown time zone",
        );
        problem = problem.help(match suggestion {
            Some(s) => {
                format!("expected a name from the IANA time zone database such as Europe/Berlin; did you mean `{s}`?")
            }
            None => "expected a name from the IANA time zone database such as Europe/Berlin".into(),
        });
        problems.push(problem);
    }
    let windows: Vec<model::Window> = schedule
        .windows
        .iter()
        .map(|w| model::Window { days: w.days.0.clone(), from: w.from, to: w.to, capacity: capacity(&w.capacity) })
        .collect();
    for (j, (w, window)) in schedule.windows.iter().zip(&windows).enumerate() {
        let js = j.to_string();
        check_capacity(
            &w.capacity,
            at(&p(&["schedule", "windows", &js, "capacity"])),
            "the window's `capacity`",
            problems,
        );
        if w.from == w.to {
            problems.push(
                Problem::new(at(&p(&["schedule", "windows", &js, "to"])), "the window ends when it starts", "same as `from`")
                    .help("a window lasts from `from` to `to`; for a whole day use 00:00 to 00:00 of... two windows, or set the pool's base capacity instead"),
            );
            continue;
        }
        for (k, other) in windows.iter().enumerate().take(j) {
            if w.from == w.to || other.from == other.to {
                continue;
            }
            let overlap =
                window.weekly_ranges().iter().any(|a| other.weekly_ranges().iter().any(|b| a.0 < b.1 && b.0 < a.1));
            if overlap {
                let ks = k.to_string();
                problems.push(
                    Problem::new(
                        at(&p(&["schedule", "windows", &js])),
                        format!("window {} overlaps window {}", j + 1, k + 1),
                        "this window",
                    )
                    .related(at(&p(&["schedule", "windows", &ks])), "overlaps this one")
                    .help(
                        "windows of one pool must not overlap, counting windows that cross midnight into the next day",
                    ),
                );
            }
        }
    }
    let base = capacity(&pool.capacity);
    let schedule_model = model::Schedule { time_zone: String::new(), windows };
    let actions = schedule_model.actions(base).len();
    if actions > limits::SCHEDULED_ACTIONS_PER_GROUP {
        problems.push(
            Problem::new(at(&p(&["schedule", "windows"])), format!("these windows need {actions} scheduled actions"), "too many windows")
                .help(format!("AWS allows {} scheduled actions per Auto Scaling group; merge windows that share times into one with several days", limits::SCHEDULED_ACTIONS_PER_GROUP)),
        );
    }
}

fn capacity(c: &spec::Capacity) -> model::Capacity {
    model::Capacity { min: c.min, max: c.max, desired: c.desired.unwrap_or(c.min) }
}

fn check_capacity(c: &spec::Capacity, span: Range<usize>, what: &str, problems: &mut Vec<Problem>) {
    let desired = c.desired.unwrap_or(c.min);
    if !(c.min <= desired && desired <= c.max) {
        let shown = match c.desired {
            Some(d) => format!("min {}, desired {d}, max {}", c.min, c.max),
            None => format!("min {}, max {}", c.min, c.max),
        };
        problems.push(
            Problem::new(span, format!("{what} is {shown}"), "min <= desired <= max does not hold")
                .help("expected min <= desired <= max (desired defaults to min)"),
        );
    }
}

fn check_strings(node: &Node, problems: &mut Vec<Problem>) {
    match &node.kind {
        crate::yaml::Kind::Scalar(Value::String(s)) => {
            if s.chars().any(char::is_control) {
                problems.push(
                    Problem::new(node.span.clone(), "this value contains a control character or line break", "not one line of text")
                        .help("values end up in shell scripts, HCL and systemd units: write them on one line without control characters"),
                );
            }
        }
        crate::yaml::Kind::Scalar(_) => {}
        crate::yaml::Kind::Seq(items) => items.iter().for_each(|n| check_strings(n, problems)),
        crate::yaml::Kind::Map(entries) => entries.iter().for_each(|(_, _, n)| check_strings(n, problems)),
    }
}

fn check_gitlab_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|e| e.to_string())?;
    if url.scheme() != "https" {
        return Err(format!("it uses {}, not https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it holds credentials; tokens belong in SSM".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("it has a query or fragment".into());
    }
    match url.host() {
        None => return Err("it has no host".into()),
        Some(url::Host::Domain(domain)) => check_host_name(domain)?,
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {}
    }
    // The parser drops an empty port (`host:/`), and would keep port 0.
    let authority = text["https://".len().min(text.len())..].split(['/', '?', '#']).next().unwrap_or_default();
    if authority.ends_with(':') {
        return Err("it has an empty port".into());
    }
    if url.port() == Some(0) {
        return Err("port 0 is not a port".into());
    }
    Ok(())
}

/// Text with every character outside ASCII spelled as its code point, to tell look-alikes apart.
fn code_points(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii() { c.to_string() } else { format!("\\u{{{:04X}}}", c as u32) }).collect()
}

/// A DNS host name: labels of letters, digits and hyphens (internationalised names arrive here in
/// their `xn--` form), 1 to 63 characters each, not starting or ending with a hyphen, 253 in all.
fn check_host_name(domain: &str) -> Result<(), String> {
    let name = domain.strip_suffix('.').unwrap_or(domain);
    if name.is_empty() || name.len() > 253 {
        return Err("its host name is empty or longer than 253 characters".into());
    }
    for label in name.split('.') {
        let ldh = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty() || label.len() > 63 || !ldh || label.starts_with('-') || label.ends_with('-') {
            return Err(format!(
                "`{domain}` is not a host name (each dot-separated part: 1 to 63 letters, digits or inner hyphens)"
            ));
        }
    }
    Ok(())
}

/// Whether an instance family runs on Graviton: `a1`, and families whose attribute letters
/// after the generation include `g` (t4g, m7g, c6gn, x2gd, im4gn, is4gen, hpc7g, g5g).
pub fn is_graviton(instance_type: &str) -> bool {
    let family = instance_type.split('.').next().unwrap_or_default();
    let letters = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let attributes = letters.trim_start_matches(|c: char| c.is_ascii_digit());
    family == "a1" || attributes.split('-').next().unwrap_or_default().contains('g')
}

fn check_instance_type(text: &str, arch: Arch, span: Range<usize>, problems: &mut Vec<Problem>) {
    let (family, size) = text.split_once('.').unwrap_or((text, ""));
    let family_ok = {
        let rest = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
        rest.len() < family.len() && rest.starts_with(|c: char| c.is_ascii_digit())
    };
    let size_ok = matches!(size, "nano" | "micro" | "small" | "medium" | "large" | "xlarge" | "metal")
        || size.strip_suffix("xlarge").is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        || size.strip_prefix("metal-").is_some_and(|n| n.ends_with("xl"));
    if !family_ok || !size_ok {
        problems.push(
            Problem::new(span, format!("`{text}` is not an EC2 instance type"), "malformed instance type")
                .help("expected FAMILY.SIZE such as m7g.large, c6i.2xlarge or t3.medium"),
        );
        return;
    }
    let graviton = is_graviton(text);
    let wanted = match arch {
        Arch::Arm64 if !graviton => Some("arm64 (Graviton, such as m7g.large or t4g.medium)"),
        Arch::X86_64 if graviton => Some("x86_64 (such as m7i.large or t3.medium)"),
        _ => None,
    };
    if let Some(wanted) = wanted {
        let is = if graviton { Arch::Arm64 } else { Arch::X86_64 }.name();
        problems.push(
            Problem::new(
                span,
                format!("`{text}` is an {is} instance type, but the image is built for another architecture"),
                format!("{is} instance type"),
            )
            .help(format!("`image.arch` asks for {wanted}; every instance type must run the one AMI")),
        );
    }
}

fn check_ssm_name(name: &str) -> Result<(), String> {
    let segments: Vec<&str> = name.strip_prefix('/').ok_or("it must start with /")?.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err("it has an empty segment (// or a trailing /)".into());
    }
    if segments.len() > 15 {
        return Err(format!("it has {} levels; SSM allows 15", segments.len()));
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.-/".contains(*c))) {
        return Err(format!("`{bad}` is not allowed"));
    }
    let first = segments[0].to_ascii_lowercase();
    if first.starts_with("aws") || first.starts_with("ssm") {
        return Err("names starting with aws or ssm are reserved".into());
    }
    Ok(())
}

/// A tag every resource takes: IAM, the strictest of the services the tags reach, allows
/// `[\p{L}\p{Z}\p{N}_.:/=+\-@]` (IAM API reference, Tag): letters, numbers and spaces of any
/// script, but not the combining marks many scripts write vowels with. Line and paragraph
/// separators (\p{Zl}, \p{Zp}) are refused too.
fn check_tag(key: &str, value: &str) -> Result<(), String> {
    use unicode_general_category::{GeneralCategory as G, get_general_category};
    let allowed = |c: char| {
        "_.:/=+-@".contains(c)
            || matches!(
                get_general_category(c),
                G::UppercaseLetter
                    | G::LowercaseLetter
                    | G::TitlecaseLetter
                    | G::ModifierLetter
                    | G::OtherLetter
                    | G::DecimalNumber
                    | G::LetterNumber
                    | G::OtherNumber
                    | G::SpaceSeparator
            )
    };
    if key.is_empty() || key.chars().count() > 128 {
        return Err("a key has 1 to 128 characters".into());
    }
    if value.chars().count() > 256 {
        return Err("a value has at most 256 characters".into());
    }
    if key.to_ascii_lowercase().starts_with("aws:") {
        return Err("keys starting with aws: are reserved by AWS".into());
    }
    if key.to_ascii_lowercase().starts_with("runnergen:") {
        return Err("keys starting with runnergen: are runnergen's own, which it finds the AMI and the pools by".into());
    }
    if key == "Name" {
        return Err("runnergen names each resource itself".into());
    }
    if let Some(bad) = key.chars().chain(value.chars()).find(|c| !allowed(*c)) {
        return Err(format!("`{bad}` (U+{:04X}) is not allowed", bad as u32));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_urls_need_a_real_host_and_port() {
        for good in [
            "https://gitlab.com",
            "https://gitlab.example.com:8443/",
            "https://gitlab.example.com/sub/path",
            "https://gitlab",
            "https://10.0.0.5",
            "https://[2001:db8::1]:444",
            "https://bücher.example",
            "https://gitlab.example.com.",
        ] {
            assert_eq!(check_gitlab_url(good), Ok(()), "{good}");
        }
        for bad in [
            "https://\"}",
            "https://${var.x}",
            "https://$((1+1))",
            "https://*",
            "https://a..b",
            "https://-a.example",
            "https://a-.example",
            "https://gitlab.example.com:0",
            "https://gitlab.example.com:/",
            "https://gitlab.example.com:",
            "https://gitlab.example.com:65536",
            "https://user:pw@gitlab.example.com",
            "https://gitlab.example.com/?x=1",
            "https://gitlab.example.com/#x",
            "http://gitlab.example.com",
            "https://",
            &format!("https://{}.example", "a".repeat(64)),
        ] {
            assert!(check_gitlab_url(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn graviton_families() {
        for t in [
            "t4g.medium",
            "m7g.large",
            "c6gn.xlarge",
            "x2gd.large",
            "im4gn.large",
            "is4gen.large",
            "a1.large",
            "hpc7g.4xlarge",
            "g5g.xlarge",
            "m8g.large",
        ] {
            assert!(is_graviton(t), "{t}");
        }
        for t in [
            "t3.medium",
            "m7i.large",
            "c5.2xlarge",
            "g4dn.xlarge",
            "m7i-flex.large",
            "r7iz.large",
            "inf2.xlarge",
            "c6in.large",
        ] {
            assert!(!is_graviton(t), "{t}");
        }
    }
}
