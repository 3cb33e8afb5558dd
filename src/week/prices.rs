//! The price list `runnergen plan --prices` reads: the user's own hourly prices per instance type.
//! No price table comes with runnergen: prices change by region and over time, and a discount
//! is the user's to apply.
//!
//! ```yaml
//! currency: USD
//! instance_types:
//!   m7g.large: {on_demand: 0.0816, spot: 0.0327}
//!   t4g.small: {on_demand: 0.0168}
//! cloudwatch:     # optional: what a fleet's `monitoring` costs
//!   metric_month: 0.30          # a custom metric, a month
//!   alarm_metric_month: 0.10    # a metric in a standard-resolution alarm, a month
//!   dashboard_month: 3.00       # a dashboard, a month
//!   requests_1000: 0.01         # 1,000 PutMetricData requests
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::Error;
use crate::diagnostic::{Finding, SpecPath};
use crate::load::Source;
use crate::load::file::{Expected, read_mapping};

/// What a price list holds, as its help says.
const PRICE_LIST_HELP: &str = "expected `currency: USD` and `instance_types:` mapping each instance type to \
                               `{on_demand: PRICE, spot: PRICE}` (spot optional), prices per hour";

/// A price list, in the words of the errors that refuse a file.
const PRICE_LIST: Expected = Expected {
    file: "a price list file such as prices.yaml",
    kind: "a price list",
    empty: "a price list with `currency:` and `instance_types:`",
    not_mapping: "the price list must be a mapping of keys",
    not_mapping_help: PRICE_LIST_HELP,
};

#[derive(Debug, Clone)]
pub struct Prices {
    pub currency: String,
    /// The file, as diagnostics name it.
    pub file: String,
    types: BTreeMap<String, Price>,
    /// CloudWatch's prices, for the cost of a fleet's monitoring.
    pub cloudwatch: Option<CloudWatchPrices>,
}

/// CloudWatch's prices, from AWS's pricing page (<https://aws.amazon.com/cloudwatch/pricing/>).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchPrices {
    /// A custom metric, a month.
    pub metric_month: f64,
    /// A metric in a standard-resolution alarm (a metric math alarm counts each of its metrics), a month.
    pub alarm_metric_month: f64,
    /// A dashboard, a month.
    pub dashboard_month: f64,
    /// 1,000 PutMetricData requests.
    pub requests_1000: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Price {
    on_demand: f64,
    spot: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    currency: String,
    instance_types: BTreeMap<String, Price>,
    cloudwatch: Option<CloudWatchPrices>,
}

impl Prices {
    /// Reads and parses a price list file.
    pub fn read(path: &std::path::Path) -> Result<Prices, Error> {
        Prices::parse(&read_mapping(path, &PRICE_LIST)?)
    }

    /// Reads a parsed price file; every problem located in it.
    pub fn parse(source: &Source) -> Result<Prices, Error> {
        let json = source.root.to_json();
        let file: File = serde_path_to_error::deserialize(json).map_err(|e| {
            let path = SpecPath::of_serde(e.path());
            let finding = Finding::new(path, format!("not a price list: {}", e.inner()), "here").help(PRICE_LIST_HELP);
            source.error(crate::diagnostic::locate(&source.root, vec![finding]))
        })?;
        let mut findings = Vec::new();
        let currency = file.currency.trim();
        if currency.is_empty() || currency.chars().count() > 8 || currency.chars().any(char::is_control) {
            findings.push(
                Finding::new(SpecPath::root().key("currency"), "the currency is not a short name", "here")
                    .help("expected a currency code or symbol of 1 to 8 characters, such as USD or EUR"),
            );
        }
        for (name, price) in &file.instance_types {
            for (key, value) in [("on_demand", Some(price.on_demand)), ("spot", price.spot)] {
                if value.is_some_and(|v| !v.is_finite() || v < 0.0) {
                    findings.push(
                        Finding::new(
                            SpecPath::root().key("instance_types").key(name).key(key),
                            "a price is a number of 0 or more",
                            "here",
                        )
                        .help("expected the hourly price, such as 0.0816"),
                    );
                }
            }
        }
        if let Some(cw) = &file.cloudwatch {
            for (key, value) in [
                ("metric_month", cw.metric_month),
                ("alarm_metric_month", cw.alarm_metric_month),
                ("dashboard_month", cw.dashboard_month),
                ("requests_1000", cw.requests_1000),
            ] {
                if !value.is_finite() || value < 0.0 {
                    findings.push(
                        Finding::new(
                            SpecPath::root().key("cloudwatch").key(key),
                            "a price is a number of 0 or more",
                            "here",
                        )
                        .help("expected CloudWatch's price, such as 0.30 for a custom metric a month"),
                    );
                }
            }
        }
        if !findings.is_empty() {
            return Err(source.error(crate::diagnostic::locate(&source.root, findings)));
        }
        Ok(Prices {
            currency: currency.to_owned(),
            file: source.name.clone(),
            types: file.instance_types,
            cloudwatch: file.cloudwatch,
        })
    }

    /// The hourly price of an instance type: spot when asked for and listed, else on-demand.
    pub fn hourly(&self, instance_type: &str, spot: bool, pool: &str) -> Result<f64, String> {
        let price = self.types.get(instance_type).ok_or_else(|| {
            format!(
                "{} has no price for `{instance_type}`, which pool `{pool}` runs on; add `{instance_type}: {{on_demand: PRICE}}` under `instance_types`",
                self.file
            )
        })?;
        Ok(if spot { price.spot.unwrap_or(price.on_demand) } else { price.on_demand })
    }
}
