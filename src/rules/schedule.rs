//! The rules over a pool's schedule: its time zone and windows.

use super::Rules;
use crate::diagnostic::{Finding, Mark, SpecPath};
use crate::model::Schedule;

/// A schedule's time zone is an IANA name, and its windows have a length and do not overlap.
pub(crate) fn check_schedule<T>(rules: &mut Rules, at: &SpecPath, schedule: &Schedule<T>) {
    time_zone(rules, at, schedule);
    window_lengths(rules, at, schedule);
    windows_apart(rules, at, schedule);
}

/// The schedule's time zone is a name of the IANA time zone database.
fn time_zone<T>(rules: &mut Rules, at: &SpecPath, schedule: &Schedule<T>) {
    let zone = at.key("time_zone");
    rules.rule(&[&zone], |out| {
        let tz = &schedule.time_zone;
        if tz.parse::<chrono_tz::Tz>().is_err() {
            let suggestion = chrono_tz::TZ_VARIANTS
                .iter()
                .map(|z| z.name())
                .min_by_key(|z| strsim::damerau_levenshtein(&z.to_lowercase(), &tz.to_lowercase()));
            let help = match suggestion {
                Some(s) => format!(
                    "expected a name from the IANA time zone database such as Europe/Berlin; did you mean `{s}`?"
                ),
                None => "expected a name from the IANA time zone database such as Europe/Berlin".into(),
            };
            out.push(
                Finding::new(zone.clone(), format!("`{tz}` is not an IANA time zone"), "unknown time zone").help(help),
            );
        }
    });
}

/// Each window ends at another time than it starts.
fn window_lengths<T>(rules: &mut Rules, at: &SpecPath, schedule: &Schedule<T>) {
    let windows = at.key("windows");
    for (j, w) in schedule.windows.iter().enumerate() {
        let here = windows.index(j);
        rules.rule(&[&here.key("from"), &here.key("to")], |out| {
            if w.from == w.to {
                out.push(Finding::new(here.key("to"), "the window ends when it starts", "same as `from`").help(
                    "a window lasts from `from` to `to`: give it a length, or change the pool's base setting instead",
                ));
            }
        });
    }
}

/// No two windows overlap, counting the windows that cross midnight.
fn windows_apart<T>(rules: &mut Rules, at: &SpecPath, schedule: &Schedule<T>) {
    let windows = at.key("windows");
    rules.rule(&[&windows], |out| {
        for (j, w) in schedule.windows.iter().enumerate() {
            for (k, other) in schedule.windows.iter().enumerate().take(j) {
                if w.from == w.to || other.from == other.to {
                    continue;
                }
                let overlap =
                    w.weekly_ranges().iter().any(|a| other.weekly_ranges().iter().any(|b| a.0 < b.1 && b.0 < a.1));
                if overlap {
                    out.push(
                        Finding::new(
                            windows.index(j),
                            format!("window {} overlaps window {}", j + 1, k + 1),
                            "this window",
                        )
                        .related(windows.index(k), Mark::Value, "overlaps this one")
                        .help(
                            "windows of one pool must not overlap, counting windows that cross midnight into \
                             the next day",
                        ),
                    );
                }
            }
        }
    });
}
