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

fn window(days: &[Weekday], from: ClockTime, to: ClockTime, capacity: Capacity) -> Window {
    Window { days: days.to_vec(), from, to, capacity }
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
