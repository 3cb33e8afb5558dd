//! The scheduling rules of the model, which both validation (action counts) and the Terraform
//! target use.

use Weekday::*;
use runnergen::model::{Action, Capacity, ClockTime, Schedule, Weekday, Window};

fn t(h: u16, m: u16) -> ClockTime {
    ClockTime(h * 60 + m)
}

fn cap(min: u32, max: u32, desired: u32) -> Capacity {
    Capacity { min, max, desired }
}

fn window(days: &[Weekday], from: ClockTime, to: ClockTime, capacity: Capacity) -> Window<Capacity> {
    Window { days: days.to_vec(), from, to, setting: capacity }
}

const BASE: Capacity = Capacity { min: 0, max: 4, desired: 0 };

#[test]
fn office_hours_start_and_end_on_the_same_days() {
    let s = Schedule {
        time_zone: "Europe/Berlin".into(),
        windows: vec![window(&[Mon, Tue, Wed, Thu, Fri], t(7, 0), t(19, 0), cap(1, 10, 2))],
    };
    let actions = s.actions(BASE);
    assert_eq!(actions.len(), 2);
    assert_eq!(actions[0].recurrence(), "0 7 * * 1-5");
    assert_eq!(actions[0].capacity, cap(1, 10, 2));
    assert!(actions[0].starts);
    assert_eq!(actions[1].recurrence(), "0 19 * * 1-5");
    assert_eq!(actions[1].capacity, BASE);
    assert!(!actions[1].starts);
}

#[test]
fn a_window_across_midnight_ends_the_next_day() {
    let s = Schedule {
        time_zone: "UTC".into(),
        windows: vec![window(&[Mon, Tue, Wed, Thu, Fri], t(22, 0), t(6, 0), cap(2, 4, 2))],
    };
    let actions = s.actions(BASE);
    assert_eq!(actions[0].recurrence(), "0 22 * * 1-5");
    assert_eq!(actions[1].days, vec![Tue, Wed, Thu, Fri, Sat]);
    assert_eq!(actions[1].recurrence(), "0 6 * * 2-6");
}

#[test]
fn sunday_wraps_to_monday_and_cron_counts_sunday_as_zero() {
    let s = Schedule { time_zone: "UTC".into(), windows: vec![window(&[Sat, Sun], t(23, 30), t(1, 15), cap(1, 1, 1))] };
    let actions = s.actions(BASE);
    assert_eq!(actions[0].recurrence(), "30 23 * * 0,6");
    assert_eq!(actions[1].days, vec![Mon, Sun]);
    assert_eq!(actions[1].recurrence(), "15 1 * * 0,1");
}

#[test]
fn adjacent_windows_emit_only_the_start_at_the_shared_minute() {
    let s = Schedule {
        time_zone: "UTC".into(),
        windows: vec![
            window(&[Mon, Tue, Wed, Thu, Fri], t(7, 0), t(12, 0), cap(1, 4, 1)),
            window(&[Mon], t(12, 0), t(14, 0), cap(3, 4, 3)),
        ],
    };
    let actions = s.actions(BASE);
    let ends: Vec<&Action> = actions.iter().filter(|a| !a.starts).collect();
    // The first window still ends on Tuesday to Friday; on Monday the second window's start replaces it.
    assert_eq!(ends[0].window, 0);
    assert_eq!(ends[0].days, vec![Tue, Wed, Thu, Fri]);
    assert_eq!(ends[1].window, 1);
    assert_eq!(actions.iter().filter(|a| a.at == t(12, 0) && a.days.contains(&Mon)).count(), 1);
}

#[test]
fn fully_adjacent_windows_drop_the_end_action() {
    let s = Schedule {
        time_zone: "UTC".into(),
        windows: vec![
            window(&[Mon], t(7, 0), t(12, 0), cap(1, 4, 1)),
            window(&[Mon], t(12, 0), t(18, 0), cap(2, 4, 2)),
        ],
    };
    let actions = s.actions(BASE);
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert!(!actions.iter().any(|a| a.window == 0 && !a.starts));
}

#[test]
fn weekly_ranges_split_at_the_end_of_the_week() {
    let w = window(&[Sun], t(22, 0), t(2, 0), cap(1, 1, 1));
    let week = 7 * 24 * 60;
    assert_eq!(w.weekly_ranges(), vec![(week - 120, week), (0, 120)]);
}

// ---------------------------------------------------------------------------------------------
// An autoscaler's windows as the runner's policy periods: 5-field cron expressions that name
// every minute of the window.

fn periods(days: &[Weekday], from: ClockTime, to: ClockTime) -> Vec<String> {
    window(days, from, to, BASE).periods()
}

#[test]
fn whole_hours_are_one_period() {
    assert_eq!(periods(&[Mon, Tue, Wed, Thu, Fri], t(7, 0), t(19, 0)), ["* 7-18 * * 1-5"]);
    assert_eq!(periods(&[Wed], t(9, 0), t(10, 0)), ["* 9 * * 3"]);
}

#[test]
fn minute_offsets_get_partial_hours_of_their_own() {
    assert_eq!(periods(&[Mon, Tue, Wed, Thu, Fri], t(7, 30), t(19, 0)), ["30-59 7 * * 1-5", "* 8-18 * * 1-5"]);
    assert_eq!(
        periods(&[Mon, Tue, Wed, Thu, Fri], t(7, 30), t(19, 45)),
        ["30-59 7 * * 1-5", "* 8-18 * * 1-5", "0-44 19 * * 1-5"]
    );
    assert_eq!(periods(&[Mon], t(10, 15), t(10, 45)), ["15-44 10 * * 1"]);
    assert_eq!(periods(&[Mon], t(10, 15), t(10, 16)), ["15 10 * * 1"]);
    assert_eq!(periods(&[Mon], t(10, 15), t(11, 5)), ["15-59 10 * * 1", "0-4 11 * * 1"]);
}

#[test]
fn a_window_across_midnight_continues_on_the_following_days() {
    assert_eq!(periods(&[Fri], t(22, 30), t(6, 15)), ["30-59 22 * * 5", "* 23 * * 5", "* 0-5 * * 6", "0-14 6 * * 6"]);
    // Sunday is 0 in cron, and the day after Sunday is Monday.
    assert_eq!(periods(&[Sat, Sun], t(23, 0), t(1, 0)), ["* 23 * * 0,6", "* 0 * * 0,1"]);
    // Ending at midnight is the end of the day, not a window into the next.
    assert_eq!(periods(&[Mon, Tue, Wed, Thu, Fri], t(18, 0), t(0, 0)), ["* 18-23 * * 1-5"]);
}

/// Which minutes of the week (0 = Monday 00:00) `minute hour * * weekdays` names, its fields read
/// once.
fn cron(period: &str) -> impl Fn(u32) -> bool {
    let fields: Vec<&str> = period.split(' ').collect();
    assert_eq!(fields.len(), 5, "{period}");
    assert_eq!((fields[2], fields[3]), ("*", "*"), "{period}");
    let number = |text: &str| text.parse::<u32>().unwrap_or_else(|_| panic!("{period}: `{text}` is not a number"));
    let values = |field: &str, count: u32| -> Vec<bool> {
        (0..count)
            .map(|value| {
                field == "*"
                    || field.split(',').any(|part| match part.split_once('-') {
                        Some((a, b)) => (number(a)..=number(b)).contains(&value),
                        None => number(part) == value,
                    })
            })
            .collect()
    };
    let (minutes, hours, weekdays) = (values(fields[0], 60), values(fields[1], 24), values(fields[4], 7));
    move |m| {
        let (day, minute_of_day) = (m / (24 * 60), m % (24 * 60));
        minutes[(minute_of_day % 60) as usize]
            && hours[(minute_of_day / 60) as usize]
            && weekdays[((day + 1) % 7) as usize]
    }
}

/// Over every minute of the week, the periods name exactly the minutes the window covers, for
/// windows starting and ending at every quarter hour on a few day sets.
#[test]
fn periods_cover_exactly_the_window() {
    let day_sets: [&[Weekday]; 4] = [&[Mon, Tue, Wed, Thu, Fri], &[Sun], &[Sat, Sun], &[Mon, Wed, Fri]];
    for days in day_sets {
        for from in (0..24 * 60).step_by(135) {
            for to in (0..24 * 60).step_by(165) {
                let (from, to) = (ClockTime(from), ClockTime(to));
                if from == to {
                    continue;
                }
                let w = window(days, from, to, BASE);
                let periods = w.periods();
                // The window by hand: starts on its days at `from`, lasts until `to` (the next day
                // when `to` is not after `from`).
                let length = (u32::from(to.0) + 24 * 60 - u32::from(from.0)) % (24 * 60);
                let covered = |m: u32| {
                    days.iter().any(|d| {
                        let start = d.index() as u32 * 24 * 60 + u32::from(from.0);
                        (m + 7 * 24 * 60 - start) % (7 * 24 * 60) < length
                    })
                };
                let named_by: Vec<_> = periods.iter().map(|p| cron(p)).collect();
                for m in 0..7 * 24 * 60 {
                    let named = named_by.iter().any(|named_by| named_by(m));
                    assert_eq!(named, covered(m), "{days:?} {from:?}-{to:?} minute {m}: {periods:?}");
                }
            }
        }
    }
}
