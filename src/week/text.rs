//! `runnergen plan` for people: a table of each pool's week and the totals, the change from a
//! baseline, and a heatmap per pool of the desired instances hour by hour. Readable without
//! colour; coloured on a terminal.

use super::{DAYS, Delta, Hours, Plan, PoolPlan, Segment, share};
use crate::model::Capacity;

/// Shades of the heatmap, by the share of the pool's highest desired count in force that hour.
const SHADES: [char; 5] = ['·', '░', '▒', '▓', '█'];

pub fn render(plan: &Plan, baseline: Option<(&Plan, &str)>, color: bool) -> String {
    let mut out = format!(
        "{}: instance-hours in one week ({} h), each pool in its own time zone\n\n",
        plan.fleet,
        super::WEEK_HOURS
    );
    let money = |h: &Option<Hours>| h.map(|c| [c.min, c.desired, c.max]);
    let mut rows: Vec<Vec<String>> = vec![];
    let mut header = vec!["pool", "topology", "time zone", "min", "desired", "max", "always-on max", "share"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    if let Some(currency) = &plan.currency {
        header.extend(["cost min", "cost desired", "cost max"].map(|c| format!("{c} ({currency})")));
    }
    rows.push(header);
    for p in &plan.pools {
        let mut row = vec![
            p.name.clone(),
            p.topology.as_str().to_owned(),
            p.time_zone.clone().unwrap_or_else(|| "-".into()),
            fixed(p.instance_hours.min),
            fixed(p.instance_hours.desired),
            fixed(p.instance_hours.max),
            fixed(p.always_on_max_hours),
            format!("{:.1} %", share(&p.instance_hours, p.always_on_max_hours)),
        ];
        if let Some(c) = money(&p.cost) {
            row.extend(c.map(|x| format!("{x:.2}")));
        }
        rows.push(row);
    }
    let t = &plan.total;
    let mut total = vec![
        "total".to_owned(),
        String::new(),
        String::new(),
        fixed(t.instance_hours.min),
        fixed(t.instance_hours.desired),
        fixed(t.instance_hours.max),
        fixed(t.always_on_max_hours),
        format!("{:.1} %", share(&t.instance_hours, t.always_on_max_hours)),
    ];
    if let Some(c) = money(&t.cost) {
        total.extend(c.map(|x| format!("{x:.2}")));
    }
    rows.push(total);
    out.push_str(&table(&rows));
    let month = super::monthly(t.instance_hours);
    out.push_str(&format!(
        "\nA month ({} h, {:.2} weeks): {} min, {} desired, {} max instance-hours",
        super::MONTH_HOURS,
        super::MONTH_HOURS / super::WEEK_HOURS,
        fixed(month.min),
        fixed(month.desired),
        fixed(month.max)
    ));
    if let (Some(cost), Some(currency)) = (t.cost, &plan.currency) {
        let cost = super::monthly(cost);
        out.push_str(&format!(
            "; cost {:.2} min, {:.2} desired, {:.2} max {currency}",
            cost.min, cost.desired, cost.max
        ));
    }
    out.push_str(".\n");
    if let Some(m) = &plan.monitoring {
        let u = &m.usage;
        out.push_str(&format!(
            "Monitoring, a month: {} custom metrics, {} alarm metrics, {} dashboard{}, {} min, {} desired, {} max \
             PutMetricData requests (heartbeats)",
            u.custom_metrics,
            u.alarm_metrics,
            u.dashboards,
            if u.dashboards == 1 { "" } else { "s" },
            whole(m.requests_per_month.min),
            whole(m.requests_per_month.desired),
            whole(m.requests_per_month.max)
        ));
        match (&m.cost_per_month, &plan.currency) {
            (Some(cost), Some(currency)) => out.push_str(&format!(
                "; cost {:.2} min, {:.2} desired, {:.2} max {currency}.\n",
                cost.min, cost.desired, cost.max
            )),
            (None, Some(_)) => out.push_str("; add `cloudwatch:` prices to the price list for its cost.\n"),
            _ => out.push_str(".\n"),
        }
    }
    out.push_str(
        "\nmin, desired, max: the capacity in force all week, its desired count as scheduled (demand\n\
         scaling moves it between min and max). always-on max: the highest max in force during the\n\
         week, all week (no schedule, no scaling down). share: desired of always-on max.\n\
         Not counted: NAT gateway traffic (image pulls), EBS volumes, CloudWatch Logs, S3, the bake.\n",
    );
    if plan.currency.is_some() {
        for p in plan.pools.iter().filter(|p| p.on_demand_worst_case) {
            out.push_str(&format!(
                "{}: spot with on_demand_fallback: cost max is at on-demand prices, the worst case while spot capacity is short.\n",
                p.name
            ));
        }
    }
    if plan.pools.iter().any(|p| p.autoscaler.is_some()) {
        out.push_str(
            "Autoscaler pools: the manager all week, plus the workers that keep the idle slots in force\n\
             warm (min, desired) or every worker (max); jobs add workers between the two.\n",
        );
        for p in &plan.pools {
            if let Some(job_hours) = p.autoscaler.and_then(|a| a.demand_job_hours) {
                out.push_str(&format!(
                    "{}: desired counts {} job-hours a week of demand (--demand) on top of the warm workers.\n",
                    p.name,
                    fixed(job_hours)
                ));
            }
        }
    }
    if let Some((before, name)) = baseline {
        out.push_str(&format!("\nChange from {name} (instance-hours, + more, - fewer):\n\n"));
        let delta = Delta::new(plan, before);
        let mut rows = vec![vec!["pool", "min", "desired", "max"].into_iter().map(str::to_owned).collect::<Vec<_>>()];
        for (pool, now, then) in &delta.pools {
            let d = *now - *then;
            rows.push(vec![pool.clone(), signed(d.min), signed(d.desired), signed(d.max)]);
        }
        rows.push(vec!["total".into(), signed(delta.total.min), signed(delta.total.desired), signed(delta.total.max)]);
        out.push_str(&table(&rows));
        if let (Some(cost), Some(currency)) = (delta.cost, &plan.currency) {
            out.push_str(&format!(
                "cost per week: {:+.2} (min) {:+.2} (desired) {:+.2} (max) {currency}\n",
                cost.min, cost.desired, cost.max
            ));
        }
    }
    for p in &plan.pools {
        out.push('\n');
        out.push_str(&heatmap(p, color));
    }
    out
}

/// One pool's week: a row a day, a character an hour, shaded by the desired instances in force
/// (the hour's highest).
fn heatmap(p: &PoolPlan, color: bool) -> String {
    let peak = p.week.iter().map(|s| s.value.desired).max().unwrap_or(0);
    let zone = p.time_zone.as_deref().unwrap_or("no schedule");
    let mut out = format!("{} ({zone}): desired instances by hour, {}\n", p.name, legend(peak));
    for w in &p.windows {
        out.push_str(&format!("  window: {w}\n"));
    }
    out.push_str("     00    03    06    09    12    15    18    21\n");
    for (d, day) in DAYS.iter().enumerate() {
        out.push_str(&format!("{day}  "));
        for h in 0..24 {
            let start = (d as u32 * 24 + h) * 60;
            let n = highest(&p.week, start, start + 60);
            let shade = shade(n, peak);
            if color {
                let code = if n == 0 { "2" } else { "32" };
                out.push_str(&format!("\x1b[{code}m{shade}{shade}\x1b[0m"));
            } else {
                out.push(shade);
                out.push(shade);
            }
        }
        out.push('\n');
    }
    out
}

fn highest(week: &[Segment<Capacity>], start: u32, end: u32) -> u32 {
    week.iter().filter(|s| s.start < end && start < s.end).map(|s| s.value.desired).max().unwrap_or(0)
}

fn shade(n: u32, peak: u32) -> char {
    if n == 0 || peak == 0 {
        return SHADES[0];
    }
    // 1..=4 by quarters of the peak.
    SHADES[(4 * n).div_ceil(peak).clamp(1, 4) as usize]
}

fn legend(peak: u32) -> String {
    if peak == 0 {
        return "none all week".into();
    }
    let mut parts = vec![format!("{} 0", SHADES[0])];
    let mut from = 1;
    for (i, shade) in SHADES.iter().enumerate().skip(1) {
        let to = (peak * i as u32) / 4;
        if to >= from {
            parts.push(if to == from { format!("{shade} {from}") } else { format!("{shade} {from}-{to}") });
            from = to + 1;
        }
    }
    parts.join("  ")
}

fn whole(x: f64) -> String {
    format!("{x:.0}")
}

fn fixed(x: f64) -> String {
    format!("{x:.1}")
}

fn signed(x: f64) -> String {
    let rounded = (x * 10.0).round() / 10.0;
    if rounded == 0.0 { "0.0".into() } else { format!("{rounded:+.1}") }
}

/// Columns: the first left-aligned, the others right-aligned, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, s)| if c < 3 { format!("{s:<w$}", w = widths[c]) } else { format!("{s:>w$}", w = widths[c]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
