//! Warnings about specs that work but probably not as meant: a pool that sleeps while GitLab
//! drops the jobs waiting for it, a spot pool with one instance type, a time zone that ignores
//! daylight saving time. Pure, like the rules.

use chrono::{Offset as _, TimeZone as _};

use super::pool_path;
use crate::diagnostic::{Finding, Mark};
use crate::model::{Fleet, Pool, Weekday};

/// GitLab's stuck-job reaper (app/services/ci/stuck_builds/drop_pending_service.rb,
/// `Ci::StuckBuilds::DropPendingService`) drops a job pending for an hour when no online runner can
/// take it (`BUILD_PENDING_STUCK_TIMEOUT = 1.hour`, `Ci::Build#stuck?`), and any job pending for
/// a day (`BUILD_PENDING_OUTDATED_TIMEOUT = 1.day`). A runner counts as online for two hours
/// after its last contact (app/models/ci/runner.rb, `ONLINE_CONTACT_TIMEOUT = 2.hours`), so a pool
/// without instances for longer than that has jobs dropped.
const ONLINE_CONTACT_MINUTES: usize = 120;

const WEEK: usize = 7 * 24 * 60;

pub fn warnings(fleet: &Fleet, out: &mut Vec<Finding>) {
    for (i, pool) in fleet.pools.iter().enumerate() {
        let at = pool_path(i);
        if let Some(sleep) = pool.topology.kind().sleeps(&at)
            && sleep.minutes > ONLINE_CONTACT_MINUTES
            && !fleet.pools.iter().any(|other| covers(other, pool))
        {
            let (start, minutes, zone) = (sleep.start, sleep.minutes, sleep.time_zone);
            out.push(
                Finding::new(
                    sleep.at,
                    format!(
                        "pool `{}` has no instance for {} at a stretch ({} to {}, {zone}): GitLab drops the jobs \
                         that wait for it",
                        pool.name,
                        hours(minutes),
                        weekly_time(start),
                        weekly_time(start + minutes)
                    ),
                    "no instance outside the windows",
                )
                .mark(Mark::Value)
                .help(
                    "GitLab fails a job that has waited an hour while no online runner can take it (a runner \
                     stays online two hours after its last instance left), and any job that has waited a day \
                     (Ci::StuckBuilds::DropPendingService): jobs pushed then fail. Make it `topology: autoscaler`, \
                     whose manager stays up and starts workers job by job, or add an always-on pool that takes the \
                     same jobs and write both pools' `runner:` tags, so runnergen can see it",
                ),
            );
        }
        let spot_types = pool.topology.kind().spot_types(&at);
        if let Some((path, types)) = spot_types
            && types.len() == 1
        {
            out.push(Finding::new(path, "a spot pool with one instance type", "only one type").help(format!(
                "when AWS has no spare `{}` capacity in the subnets' zones the pool cannot start \
                 instances; AWS's Spot best practices ask for flexibility across instance types: list \
                 several of similar size, such as `[m7g.large, m6g.large, c7g.xlarge]`",
                types[0]
            )));
        }
        let schedule = pool.topology.kind().time_zone();
        if let Some(zone) = schedule
            && let Some(finding) = time_zone_advice(zone)
        {
            out.push(finding(at.key("schedule").key("time_zone")));
        }
    }
}

/// Whether `other` is always up and takes every job `pool` takes: an autoscaler pool or an
/// instance pool that never sleeps, of the same executor, whose runner has every tag of the
/// pool's runner, takes untagged jobs if it does, and is not protected unless it is.
fn covers(other: &Pool, pool: &Pool) -> bool {
    let always_on = other.topology.kind().always_on();
    let (Some(theirs), Some(ours)) = (&other.runner, &pool.runner) else { return false };
    always_on
        && other.executor == pool.executor
        && ours.tags.iter().all(|t| theirs.tags.contains(t))
        && (!ours.run_untagged || theirs.run_untagged)
        && (!theirs.protected || ours.protected)
}

fn hours(minutes: usize) -> String {
    if minutes.is_multiple_of(60) {
        format!("{} hours", minutes / 60)
    } else {
        format!("{:.1} hours", minutes as f64 / 60.0)
    }
}

/// A minute of the week as `FRI 19:00`.
fn weekly_time(minute: usize) -> String {
    let minute = minute % WEEK;
    let day = Weekday::ALL[minute / 1440].name();
    format!("{day} {:02}:{:02}", minute % 1440 / 60, minute % 60)
}

/// The city zones that legacy and fixed-offset names usually stand for.
const CITY_ZONES: &[(&str, &str)] = &[
    ("EST", "America/New_York"),
    ("EST5EDT", "America/New_York"),
    ("US/Eastern", "America/New_York"),
    ("CST6CDT", "America/Chicago"),
    ("US/Central", "America/Chicago"),
    ("MST", "America/Denver"),
    ("MST7MDT", "America/Denver"),
    ("US/Mountain", "America/Denver"),
    ("US/Arizona", "America/Phoenix"),
    ("PST8PDT", "America/Los_Angeles"),
    ("US/Pacific", "America/Los_Angeles"),
    ("HST", "Pacific/Honolulu"),
    ("US/Hawaii", "Pacific/Honolulu"),
    ("US/Alaska", "America/Anchorage"),
    ("CET", "Europe/Berlin"),
    ("MET", "Europe/Berlin"),
    ("EET", "Europe/Athens"),
    ("WET", "Europe/Lisbon"),
];

/// A warning for a zone that is not a place's: a fixed offset (`EST`, `Etc/GMT+5`), which never
/// changes for daylight saving time, or a legacy name (`US/Eastern`, `CET`). `UTC` is meant.
fn time_zone_advice(zone: &str) -> Option<impl FnOnce(crate::diagnostic::SpecPath) -> Finding> {
    let tz: chrono_tz::Tz = zone.parse().ok()?;
    let legacy = !zone.contains('/') || zone.starts_with("Etc/") || zone.starts_with("US/");
    if !legacy || matches!(zone, "UTC" | "Etc/UTC") {
        return None;
    }
    let offset_at = |month| {
        let utc = chrono::NaiveDate::from_ymd_opt(2026, month, 15).and_then(|d| d.and_hms_opt(12, 0, 0))?;
        Some(tz.offset_from_utc_datetime(&utc).fix().local_minus_utc())
    };
    let (january, july) = (offset_at(1)?, offset_at(7)?);
    let city = CITY_ZONES.iter().find(|(name, _)| *name == zone).map(|(_, city)| *city);
    let instead = match city {
        Some(city) => format!("write the zone of the place whose office hours these are, such as `{city}`"),
        None => {
            "write the zone of the place whose office hours these are, such as `America/New_York` or `Europe/Berlin`"
                .to_owned()
        }
    };
    let zone = zone.to_owned();
    Some(move |path| {
        let (message, help) = if january == july {
            let sign = if january < 0 { '-' } else { '+' };
            let offset = format!("UTC{sign}{:02}:{:02}", january.abs() / 3600, january.abs() % 3600 / 60);
            (
                format!("`{zone}` is {offset} all year: it never changes for daylight saving time"),
                format!(
                    "where clocks change, the windows would then run an hour off the local office hours for half \
                     the year: {instead}; keep `{zone}` only if a fixed offset is what you mean"
                ),
            )
        } else {
            (
                format!("`{zone}` is a legacy time zone name"),
                format!("{instead}: the legacy names are kept only for old systems"),
            )
        };
        Finding::new(path, message, "not a place's time zone").help(help)
    })
}
