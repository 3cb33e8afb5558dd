//! `runnergen plan --format json`: the week's figures, in hours (and the price list's currency).
//!
//! ```json
//! {"fleet": "acme-ci", "week_hours": 168, "month_hours": 730,
//!  "pools": [{"name": "docker", "topology": "instance",
//!             "instance_hours": {"min": 60.0, "desired": 120.0, "max": 1680.0},
//!             "always_on_max_hours": 1680.0}],
//!  "total": {"instance_hours": {"min": 228.0, "desired": 288.0, "max": 1848.0}, "always_on_max_hours": 1848.0,
//!            "instance_hours_per_month": {"min": 990.7143, "desired": 1251.4286, "max": 8030.0}}}
//! ```

use serde_json::{Map, Value, json};

use super::{Delta, Hours, Plan};

/// The plan as JSON, with its baseline and the change from it when given.
pub fn render(plan: &Plan, baseline: Option<&Plan>) -> String {
    let mut out = figures(plan);
    if let Some(before) = baseline {
        out.insert("baseline".into(), Value::Object(figures(before)));
        let delta = Delta::new(plan, before);
        let pools: Vec<Value> = delta
            .pools
            .iter()
            .map(|(name, now, then)| json!({"name": name, "instance_hours": hours(&(*now - *then))}))
            .collect();
        let mut total = Map::new();
        total.insert("instance_hours".into(), hours(&delta.total));
        if let Some(cost) = delta.cost {
            total.insert("cost_per_week".into(), hours(&cost));
        }
        out.insert("delta".into(), json!({"pools": pools, "total": total}));
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(out)).unwrap_or_default();
    text.push('\n');
    text
}

fn figures(plan: &Plan) -> Map<String, Value> {
    let currency = plan.currency.as_ref();
    let pools: Vec<Value> = plan
        .pools
        .iter()
        .map(|p| {
            let mut pool = Map::new();
            pool.insert("name".into(), json!(p.name));
            pool.insert("topology".into(), json!(p.topology.as_str()));
            pool.insert("instance_hours".into(), hours(&p.instance_hours));
            pool.insert("always_on_max_hours".into(), number(p.always_on_max_hours));
            pool.insert("time_zone".into(), json!(p.time_zone));
            if let Some(a) = &p.autoscaler {
                pool.insert("manager_hours".into(), number(a.manager));
                pool.insert(
                    "worker_hours".into(),
                    json!({"floor": number(a.worker_floor), "ceiling": number(a.worker_ceiling)}),
                );
                if let Some(job_hours) = a.demand_job_hours {
                    pool.insert("demand_job_hours".into(), number(job_hours));
                }
            }
            if let (Some(cost), Some(currency)) = (&p.cost, currency) {
                pool.insert("cost_per_week".into(), hours(cost));
                pool.insert("currency".into(), json!(currency));
                if p.on_demand_worst_case {
                    pool.insert("cost_max_at".into(), json!("on-demand"));
                }
            }
            Value::Object(pool)
        })
        .collect();
    let mut total = Map::new();
    total.insert("instance_hours".into(), hours(&plan.total.instance_hours));
    total.insert("always_on_max_hours".into(), number(plan.total.always_on_max_hours));
    total.insert("instance_hours_per_month".into(), hours(&super::monthly(plan.total.instance_hours)));
    if let (Some(cost), Some(currency)) = (&plan.total.cost, currency) {
        total.insert("cost_per_week".into(), hours(cost));
        total.insert("cost_per_month".into(), hours(&super::monthly(*cost)));
        total.insert("currency".into(), json!(currency));
    }
    let mut out = Map::new();
    out.insert("fleet".into(), json!(plan.fleet));
    out.insert("week_hours".into(), json!(168));
    out.insert("month_hours".into(), json!(super::MONTH_HOURS as u32));
    out.insert("pools".into(), Value::Array(pools));
    out.insert("total".into(), Value::Object(total));
    if let Some(m) = &plan.monitoring {
        let mut monitoring = Map::new();
        monitoring.insert("custom_metrics".into(), json!(m.usage.custom_metrics));
        monitoring.insert("alarm_metrics".into(), json!(m.usage.alarm_metrics));
        monitoring.insert("dashboards".into(), json!(m.usage.dashboards));
        monitoring.insert("put_metric_data_requests_per_month".into(), hours(&m.requests_per_month));
        if let (Some(cost), Some(currency)) = (&m.cost_per_month, currency) {
            monitoring.insert("cost_per_month".into(), hours(cost));
            monitoring.insert("currency".into(), json!(currency));
        }
        out.insert("monitoring".into(), Value::Object(monitoring));
    }
    out
}

fn hours(h: &Hours) -> Value {
    json!({"min": number(h.min), "desired": number(h.desired), "max": number(h.max)})
}

/// A float rounded to 4 decimals, so that sums print without binary noise.
fn number(x: f64) -> Value {
    let rounded = (x * 10_000.0).round() / 10_000.0;
    serde_json::Number::from_f64(if rounded == 0.0 { 0.0 } else { rounded }).map_or(Value::Null, Value::Number)
}
