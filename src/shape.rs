//! Stage 2: give a parsed spec its shape: the JSON Schema (derived from runnergen's types in
//! `spec`, with their descriptions, limits, examples and defaults), then the types themselves
//! (serde). Every problem is collected with the spec path it concerns; nothing stops at the
//! first one. A value that fails is replaced by a placeholder that fits
//! (from the schema's `default`, `enum` or `examples`), or removed when it is optional, and its
//! path is *poisoned*: the rules of stage 4 still run on everything else and skip only what
//! reads a poisoned path. Touches no files.

use std::sync::OnceLock;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use serde_json::Value;

use crate::diagnostic::{Finding, Mark, Seg, SpecPath, plural};
use crate::spec::Spec;
use crate::topology::Name;
use crate::yaml::{Kind, Node};

/// The fleet spec's JSON Schema, embedded in the binary: `spec::json_schema()` as committed (a
/// test keeps the file and the types the same).
pub const SCHEMA: &str = include_str!("../schemas/fleet.schema.json");

/// What shaping found: the typed spec (with placeholders where values failed), the problems, and
/// the paths whose values are placeholders.
#[derive(Debug)]
pub struct Shaped {
    /// `None` when no typed spec could be made at all; then `findings` is not empty.
    pub spec: Option<Spec>,
    pub findings: Vec<Finding>,
    pub poisoned: Vec<SpecPath>,
}

fn schema() -> &'static Value {
    static SCHEMA_VALUE: OnceLock<Value> = OnceLock::new();
    SCHEMA_VALUE.get_or_init(|| serde_json::from_str(SCHEMA).unwrap_or(Value::Null))
}

/// The compiled schema, built once per process.
fn validator() -> Result<&'static jsonschema::Validator, String> {
    static VALIDATOR: OnceLock<Result<jsonschema::Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            jsonschema::options()
                // The draft the schema declares in `$schema`.
                .with_draft(jsonschema::Draft::Draft7)
                .with_pattern_options(jsonschema::PatternOptions::regex())
                .build(schema())
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

pub fn shape(root: &Node) -> Shaped {
    let json = root.to_json();
    if let Some(finding) = check_version(&json) {
        // A wrong or missing version makes every other message noise.
        return Shaped { spec: None, findings: vec![finding], poisoned: Vec::new() };
    }
    let validator = match validator() {
        Ok(v) => v,
        Err(e) => {
            let broken = Finding::new(SpecPath::root(), format!("runnergen's embedded schema is broken: {e}"), "");
            return Shaped { spec: None, findings: vec![broken], poisoned: Vec::new() };
        }
    };
    let mut findings = text_findings(root);
    let mut poisoned = Vec::new();
    let mut repaired = json.clone();
    findings.extend(fill_ins(&mut repaired, &mut poisoned));
    let keyed = topology_keys(&mut repaired, &mut poisoned);
    let clean_keys = keyed.is_empty();
    findings.extend(keyed);
    let json = repaired.clone();
    let errors: Vec<(Vec<String>, ValidationErrorKind)> = validator.iter_errors(&json).map(parts).collect();
    for (path, kind) in &errors {
        findings.extend(schema_finding(&json, path, kind));
    }
    for (path, kind) in &errors {
        repair(&mut repaired, path, kind, &mut poisoned);
    }
    let clean = errors.is_empty() && clean_keys;
    // The placeholders fit their own schema; what else they upset is repaired, unreported.
    for _ in 0..4 {
        if clean {
            break;
        }
        let errors: Vec<(Vec<String>, ValidationErrorKind)> = validator.iter_errors(&repaired).map(parts).collect();
        if errors.is_empty() {
            break;
        }
        for (path, kind) in &errors {
            repair(&mut repaired, path, kind, &mut poisoned);
        }
    }
    if !validator.is_valid(&repaired) {
        return Shaped { spec: None, findings, poisoned };
    }
    // runnergen's types: what serde refuses is reported at its path and repaired the same way.
    // The common case, a spec that fits, without the cost of tracking paths.
    if let Ok(spec) = serde_json::from_value::<Spec>(repaired.clone()) {
        return Shaped { spec: Some(spec), findings, poisoned };
    }
    for _ in 0..16 {
        match serde_path_to_error::deserialize::<_, Spec>(repaired.clone()) {
            Ok(spec) => return Shaped { spec: Some(spec), findings, poisoned },
            Err(e) => {
                let path = SpecPath::of_serde(e.path()).segments();
                let spec_path = spec_path(&repaired, &path);
                let message = e.inner().to_string();
                findings.push(Finding::new(
                    spec_path.clone(),
                    format!("{}: {message}", spec_path.describe()),
                    "invalid",
                ));
                if poisoned.contains(&spec_path) || !replace(&mut repaired, &path, &mut poisoned) {
                    break;
                }
            }
        }
    }
    Shaped { spec: None, findings, poisoned }
}

/// A schema error's instance path, as JSON-pointer segments, and what is wrong there.
fn parts(error: jsonschema::ValidationError<'_>) -> (Vec<String>, ValidationErrorKind) {
    let parts = error.into_parts();
    (parts.instance_path.into_iter().map(|s| s.to_string()).collect(), parts.kind)
}

/// A path of JSON-pointer segments as a spec path: a number under a list is an index.
fn spec_path(json: &Value, path: &[String]) -> SpecPath {
    let mut node = Some(json);
    let mut out = Vec::new();
    for seg in path {
        match node {
            Some(Value::Array(items)) => {
                let i = seg.parse::<usize>().unwrap_or(usize::MAX);
                out.push(Seg::Index(i));
                node = items.get(i);
            }
            Some(Value::Object(map)) => {
                out.push(Seg::Key(seg.clone()));
                node = map.get(seg);
            }
            _ => out.push(Seg::Key(seg.clone())),
        }
    }
    SpecPath(out)
}

/// Puts right what one schema error found: unknown keys go; a missing required key gets a
/// placeholder; a wrong optional value goes, a wrong required one becomes a placeholder. Every
/// path that now holds a placeholder, or lost its value, is poisoned.
fn repair(json: &mut Value, path: &[String], kind: &ValidationErrorKind, poisoned: &mut Vec<SpecPath>) {
    match kind {
        ValidationErrorKind::AdditionalProperties { unexpected } => {
            if let Some(Value::Object(map)) = pointer_mut(json, path) {
                for key in unexpected {
                    map.remove(key);
                }
            }
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default().to_owned();
            let key_path: Vec<String> = path.iter().cloned().chain([name.clone()]).collect();
            let value = schema_at(&key_path).map(placeholder).unwrap_or(Value::Null);
            poisoned.push(spec_path(json, &key_path));
            if let Some(Value::Object(map)) = pointer_mut(json, path) {
                map.insert(name, value);
            }
        }
        _ => {
            replace(json, path, poisoned);
        }
    }
}

/// Removes the value at `path` when it is optional, or puts a placeholder there; poisons the path.
/// False when there is nothing to replace (the root).
fn replace(json: &mut Value, path: &[String], poisoned: &mut Vec<SpecPath>) -> bool {
    let Some((last, parent)) = path.split_last() else { return false };
    let required = schema_at(parent)
        .and_then(|s| s.get("required"))
        .and_then(Value::as_array)
        .is_some_and(|r| r.iter().any(|k| k.as_str() == Some(last)));
    poisoned.push(spec_path(json, path));
    match pointer_mut(json, parent) {
        Some(Value::Object(map)) if !required => {
            map.remove(last);
        }
        Some(Value::Object(map)) => {
            map.insert(last.clone(), schema_at(path).map(placeholder).unwrap_or(Value::Null));
        }
        Some(Value::Array(items)) => {
            if let Some(item) = last.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                *item = schema_at(path).map(placeholder).unwrap_or(Value::Null);
            }
        }
        _ => return false,
    }
    true
}

/// A value that fits a subschema: its default, const, first enum value or first example, else
/// the smallest value of its type.
fn placeholder(schema: &'static Value) -> Value {
    let schema = deref(schema).unwrap_or(schema);
    for key in ["default", "const"] {
        if let Some(v) = schema.get(key) {
            return v.clone();
        }
    }
    for key in ["enum", "examples"] {
        if let Some(v) = schema.get(key).and_then(Value::as_array).and_then(|a| a.first()) {
            return v.clone();
        }
    }
    if let Some(first) = schema.get("anyOf").and_then(Value::as_array).and_then(|a| a.first()) {
        return placeholder(first);
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => {
            let props = schema.get("properties");
            let mut required = schema.get("required").and_then(Value::as_array).cloned().unwrap_or_default();
            let of = |keys: &[Value]| -> serde_json::Map<String, Value> {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(|k| (k.to_owned(), props.and_then(|p| p.get(k)).map(placeholder).unwrap_or(Value::Null)))
                    .collect()
            };
            // What a condition that the object meets also requires (a pool's topology's keys).
            let object = Value::Object(of(&required));
            for branch in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
                let (Some(condition), Some(then)) = (branch.get("if"), branch.get("then")) else { continue };
                if jsonschema::is_valid(condition, &object) {
                    required.extend(then.get("required").and_then(Value::as_array).cloned().unwrap_or_default());
                }
            }
            Value::Object(of(&required))
        }
        Some("array") => {
            let n = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            Value::Array(vec![schema.get("items").map(placeholder).unwrap_or(Value::Null); n])
        }
        Some("integer" | "number") => schema.get("minimum").cloned().unwrap_or(Value::from(0)),
        Some("boolean") => Value::Bool(false),
        Some("string") => Value::String("x".into()),
        _ => Value::Null,
    }
}

/// A pool's keys that its topology or executor rules out, and those its topology requires:
/// reported, then removed or given a placeholder (its path poisoned), before the schema sees them.
fn topology_keys(json: &mut Value, poisoned: &mut Vec<SpecPath>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let Some(Value::Array(pools)) = json.get_mut("pools") else { return findings };
    for (i, pool) in pools.iter_mut().enumerate() {
        let at = SpecPath::root().key("pools").index(i);
        let Some(map) = pool.as_object_mut() else { continue };
        let name = match map.get("topology") {
            None => Name::default(),
            // The schema reports a topology it does not know; nothing here can tell what the pool is.
            Some(value) => match serde_json::from_value::<Name>(value.clone()) {
                Ok(name) => name,
                Err(_) => continue,
            },
        };
        let topology = name.as_str();
        let keys = name.keys();
        for (key, help) in keys.rules_out {
            if map.remove(*key).is_some() {
                findings.push(
                    Finding::new(
                        at.key(key),
                        format!("`{key}` is not for a pool with `topology: {topology}`"),
                        format!("not used by an {topology} pool"),
                    )
                    .mark(Mark::Key)
                    .help(*help),
                );
            }
        }
        if map.get("executor").and_then(Value::as_str) == Some("shell") && map.remove("docker").is_some() {
            findings.push(
                Finding::new(
                    at.key("docker"),
                    "`docker` settings on a pool with `executor: shell`",
                    "not used with this executor",
                )
                .mark(Mark::Key)
                .help("remove `docker:` or set `executor: docker`"),
            );
        }
        for (key, help) in keys.needs {
            require(map, &at, key, help, &mut findings, poisoned);
        }
        let Some(Value::Array(windows)) = map.get_mut("schedule").and_then(|s| s.get_mut("windows")) else { continue };
        for (j, window) in windows.iter_mut().enumerate() {
            let here = at.key("schedule").key("windows").index(j);
            let Some(w) = window.as_object_mut() else { continue };
            if w.remove(keys.window_rules_out).is_some() {
                findings.push(
                    Finding::new(
                        here.key(keys.window_rules_out),
                        format!("`{}` is not for a window of an {topology} pool", keys.window_rules_out),
                        "not used here",
                    )
                    .mark(Mark::Key)
                    .help(keys.window_help),
                );
            }
            require(w, &here, keys.window_key, keys.window_help, &mut findings, poisoned);
        }
    }
    findings
}

/// A key a topology requires: when `map` (at `at`) lacks it, a finding, a placeholder from the
/// schema in its place, and its path poisoned.
fn require(
    map: &mut serde_json::Map<String, Value>,
    at: &SpecPath,
    key: &str,
    help: &str,
    findings: &mut Vec<Finding>,
    poisoned: &mut Vec<SpecPath>,
) {
    if map.contains_key(key) {
        return;
    }
    findings.push(
        Finding::new(
            at.clone(),
            format!("{} is missing the required key `{key}`", at.describe()),
            format!("add `{key}:` here"),
        )
        .mark(Mark::KeyOrFirst)
        .help(help),
    );
    let path = at.key(key).segments();
    map.insert(key.to_owned(), schema_at(&path).map(placeholder).unwrap_or(Value::Null));
    poisoned.push(at.key(key));
}

/// A wrong or missing `version` makes every other message noise: reported alone.
fn check_version(json: &Value) -> Option<Finding> {
    let at = SpecPath::root().key("version");
    match json.get("version") {
        Some(v) if v.as_u64() == Some(1) => None,
        Some(v) => Some(
            Finding::new(at, format!("unsupported spec version {v}"), "unsupported")
                .help(format!("runnergen {} reads `version: 1`", env!("CARGO_PKG_VERSION"))),
        ),
        None => Some(
            Finding::new(SpecPath::root(), "the spec has no `version`", "expected `version: 1` here")
                .mark(Mark::KeyOrFirst)
                .help("start the file with `version: 1`"),
        ),
    }
}

/// Every string lands in a shell, HCL or systemd somewhere: one line of printable text.
fn text_findings(root: &Node) -> Vec<Finding> {
    fn walk(node: &Node, at: &mut Vec<Seg>, out: &mut Vec<Finding>) {
        match &node.kind {
            Kind::Scalar(Value::String(s)) if s.chars().any(char::is_control) => out.push(
                Finding::new(SpecPath(at.clone()), "this value contains a control character or line break", "not one line of text")
                    .help("values end up in shell scripts, HCL and systemd units: write them on one line without control characters"),
            ),
            Kind::Scalar(_) => {}
            Kind::Seq(items) => {
                for (i, n) in items.iter().enumerate() {
                    at.push(Seg::Index(i));
                    walk(n, at, out);
                    at.pop();
                }
            }
            Kind::Map(entries) => {
                for (k, _, n) in entries {
                    at.push(Seg::Key(k.clone()));
                    walk(n, at, out);
                    at.pop();
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &mut Vec::new(), &mut out);
    out
}

/// What `runnergen import` writes where it could not know a value: a string that starts with
/// this and names what it stands for.
pub const FILL_IN: &str = "FILL-IN";

/// Every value that is still an import's placeholder: refused at its place, and replaced (its
/// path poisoned) so that the schema and the rules do not also complain about it.
fn fill_ins(json: &mut Value, poisoned: &mut Vec<SpecPath>) -> Vec<Finding> {
    fn walk(value: &Value, at: &mut Vec<String>, found: &mut Vec<(Vec<String>, String)>) {
        match value {
            Value::String(s) if s.starts_with(FILL_IN) => found.push((at.clone(), s.clone())),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    at.push(i.to_string());
                    walk(item, at, found);
                    at.pop();
                }
            }
            Value::Object(map) => {
                for (k, v) in map {
                    at.push(k.clone());
                    walk(v, at, found);
                    at.pop();
                }
            }
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(json, &mut Vec::new(), &mut found);
    let mut out = Vec::new();
    for (path, text) in found {
        let at = spec_path(json, &path);
        let what = text[FILL_IN.len()..].trim_start_matches([':', ' ']);
        let help = if what.is_empty() {
            format!("replace it with the value {} should have", at.describe())
        } else {
            format!("replace it with the value {} should have; it stands for: {what}", at.describe())
        };
        out.push(Finding::new(at.clone(), "this value is still a placeholder: fill it in", "to fill in").help(help));
        // An item of a list takes the whole list with it: a stand-in item could repeat another.
        let in_list =
            path.split_last().is_some_and(|(_, parent)| matches!(pointer(json, parent), Some(Value::Array(_))));
        let target = if in_list { &path[..path.len() - 1] } else { &path[..] };
        let target_path = spec_path(json, target);
        if poisoned.iter().any(|p| p.overlaps(&target_path)) {
            continue;
        }
        if !replace(json, target, poisoned) {
            poisoned.push(target_path);
        }
    }
    out
}

/// Turns one schema error into findings.
fn schema_finding(json: &Value, path: &[String], kind: &ValidationErrorKind) -> Vec<Finding> {
    let at = spec_path(json, path);
    let here = at.describe();
    let sub = schema_at(path);
    let description = sub.and_then(|s| s.get("description")).and_then(Value::as_str).map(str::to_owned);
    let value = pointer(json, path);
    let shown = value.map(short).unwrap_or_default();
    let finding = |message: String, label: &str| {
        let f = Finding::new(at.clone(), message, label);
        match &description {
            Some(d) => f.help(format!("{here}: {d}")),
            None => f,
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
                    let closest = allowed
                        .iter()
                        .map(|a| (strsim::damerau_levenshtein(a, key), *a))
                        .filter(|(d, _)| *d <= 2.max(key.len() / 3))
                        .min();
                    let help = match closest {
                        Some((_, a)) => format!("did you mean `{a}`? {here} takes: {}", allowed.join(", ")),
                        None => format!("{here} takes: {}", allowed.join(", ")),
                    };
                    Finding::new(at.key(key), format!("unknown key `{key}` in {here}"), "unknown key")
                        .mark(Mark::Key)
                        .help(help)
                })
                .collect()
        }
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            let key_path: Vec<String> = path.iter().cloned().chain([name.to_owned()]).collect();
            let wanted = schema_at(&key_path).and_then(|s| s.get("description")).and_then(Value::as_str);
            let f = Finding::new(
                at.clone(),
                format!("{here} is missing the required key `{name}`"),
                format!("add `{name}:` here"),
            )
            .mark(Mark::KeyOrFirst);
            vec![match wanted {
                Some(w) => f.help(format!("`{name}`: {w}")),
                None => f,
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
            vec![finding(format!("{here} must be {expected}, not {found}"), &format!("expected {expected}"))]
        }
        ValidationErrorKind::Enum { options } => {
            let options: Vec<String> = options.as_array().map(|o| o.iter().map(short).collect()).unwrap_or_default();
            let closest = value.and_then(Value::as_str).and_then(|v| {
                let alias =
                    ENUM_ALIASES.iter().find(|(other, _)| other.eq_ignore_ascii_case(v)).map(|(_, meant)| *meant);
                match alias.and_then(|meant| options.iter().find(|o| o.trim_matches('"') == meant)) {
                    Some(meant) => Some(meant.clone()),
                    None => options.iter().min_by_key(|o| strsim::damerau_levenshtein(o.trim_matches('"'), v)).cloned(),
                }
            });
            vec![Finding::new(at.clone(), format!("{shown} is not a valid {here}"), "not allowed here").help(
                match closest {
                    Some(c) => format!("expected one of {}; did you mean {c}?", options.join(", ")),
                    None => format!("expected one of {}", options.join(", ")),
                },
            )]
        }
        ValidationErrorKind::Pattern { .. } | ValidationErrorKind::AnyOf { .. } => {
            vec![finding(format!("{shown} is not a valid {here}"), "does not have the expected form")]
        }
        ValidationErrorKind::Minimum { limit } => {
            vec![finding(format!("{here} is {shown}; the smallest allowed is {limit}"), &format!("at least {limit}"))]
        }
        ValidationErrorKind::Maximum { limit } => {
            vec![finding(format!("{here} is {shown}; the largest allowed is {limit}"), &format!("at most {limit}"))]
        }
        ValidationErrorKind::MinLength { limit } => {
            vec![finding(format!("{here} is too short (at least {limit} characters)"), "too short")]
        }
        ValidationErrorKind::MaxLength { limit } => {
            vec![finding(format!("{here} is too long (at most {limit} characters)"), "too long")]
        }
        ValidationErrorKind::MinItems { limit } => {
            vec![finding(format!("{here} needs at least {}", plural(*limit as usize, "item")), "too few items")]
        }
        ValidationErrorKind::MaxItems { limit } => {
            vec![finding(format!("{here} takes at most {}", plural(*limit as usize, "item")), "too many items")]
        }
        ValidationErrorKind::UniqueItems => vec![finding(format!("{here} lists the same item twice"), "repeated item")],
        ValidationErrorKind::MinProperties { .. } | ValidationErrorKind::MaxProperties { .. }
            if path.last().is_some_and(|p| p == "scaling") =>
        {
            vec![finding("`scaling` takes exactly one of `busy_percent` or `cpu_percent`".into(), "one target")]
        }
        ValidationErrorKind::MaxProperties { limit } => {
            vec![finding(format!("{here} has more than {limit} entries"), "too many entries")]
        }
        ValidationErrorKind::PropertyNames { .. } => {
            vec![finding(format!("{here} has a key AWS does not accept (1 to 128 characters)"), "invalid key")]
        }
        ValidationErrorKind::Constant { expected_value } => {
            vec![finding(format!("{here}: expected {expected_value}"), "invalid")]
        }
        other => {
            vec![finding(format!("{here}: {}", format!("{other:?}").chars().take(200).collect::<String>()), "invalid")]
        }
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

/// Follows `$ref`s into `$defs`.
fn deref(mut s: &'static Value) -> Option<&'static Value> {
    while let Some(r) = s.get("$ref").and_then(Value::as_str) {
        s = r.strip_prefix("#/$defs/").and_then(|name| schema().get("$defs")?.get(name))?;
    }
    Some(s)
}

/// The subschema that describes the value at `path`, following `$ref`s into `$defs`. A property's
/// own description wins over the one of the definition it refers to.
fn schema_at(path: &[String]) -> Option<&'static Value> {
    let mut node = deref(schema())?;
    for seg in path {
        let next = if let Some(p) = node.get("properties").and_then(|p| p.get(seg.as_str())) {
            p
        } else if seg.parse::<usize>().is_ok() && node.get("items").is_some() {
            node.get("items")?
        } else {
            node.get("additionalProperties").filter(|a| a.is_object())?
        };
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

/// Other names of enum values, which spelling distance would match to the wrong value (`amd64`
/// is nearer `arm64` than `x86_64`).
const ENUM_ALIASES: &[(&str, &str)] = &[
    ("amd64", "x86_64"),
    ("x64", "x86_64"),
    ("x86-64", "x86_64"),
    ("x86", "x86_64"),
    ("intel", "x86_64"),
    ("aarch64", "arm64"),
    ("arm", "arm64"),
    ("graviton", "arm64"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every required value in the schema has a placeholder that the schema accepts, so a spec
    /// whose values all fail still gets a typed form for the rules.
    #[test]
    fn placeholders_fit_the_schema() {
        let spec = placeholder(schema());
        let validator = validator().expect("the schema compiles");
        let errors: Vec<String> = validator.iter_errors(&spec).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{spec}\n{errors:#?}");
        serde_json::from_value::<Spec>(spec).expect("the types take it");
    }
}
