//! Cron periods as schedule windows: the 5-field periods of gitlab-runner's autoscaler policies
//! (`* 7-19 * * mon-fri`) and the 7-field ones of docker+machine's autoscaling (`* * 7-19 * *
//! mon-fri *`, seconds first and year last). A period names every minute it is in force, and
//! hour ranges are inclusive: hours `7-19` end at 20:00.

const DAYS: [&str; 7] = crate::spec::Weekday::NAMES;

/// What a period means as windows.
#[derive(Debug, PartialEq, Eq)]
pub enum Period {
    /// Every minute of the week: the pool's base setting, not a window.
    Always,
    Windows(Vec<Window>),
}

#[derive(Debug, PartialEq, Eq, Clone)]
pub struct Window {
    /// Days the window starts on, in week order.
    pub days: Vec<&'static str>,
    pub from: String,
    pub to: String,
    /// The whole day: runnergen's windows need an end other than their start, so it ends at
    /// 23:59.
    pub whole_day: bool,
}

impl Window {
    /// The days as the spec writes them: `MON-FRI`, `SAT`, or a list.
    pub fn days_yaml(&self) -> super::Node {
        let index = |d: &str| DAYS.iter().position(|x| *x == d).unwrap_or(0);
        let first = self.days.first().copied().unwrap_or("MON");
        let consecutive = self.days.windows(2).all(|p| index(p[1]) == index(p[0]) + 1);
        match self.days.len() {
            1 => super::Node::string(first),
            n if consecutive && n > 1 => super::Node::string(&format!("{first}-{}", self.days[n - 1])),
            _ => super::Node::strings(&self.days),
        }
    }
}

/// Reads a period of `fields` fields (5, or 6 or 7 for docker+machine) as windows.
pub fn period(text: &str, docker_machine: bool) -> Result<Period, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let (minute, hour, dom, month, dow, rest): (&str, &str, &str, &str, &str, Vec<&str>) =
        match (docker_machine, fields.len()) {
            (false, 5) => (fields[0], fields[1], fields[2], fields[3], fields[4], vec![]),
            (true, 6) => (fields[1], fields[2], fields[3], fields[4], fields[5], vec![fields[0]]),
            (true, 7) => (fields[1], fields[2], fields[3], fields[4], fields[5], vec![fields[0], fields[6]]),
            (false, n) => {
                return Err(format!("{n} fields; an autoscaler period has 5 (minute hour day month weekday)"));
            }
            (true, n) => {
                return Err(format!(
                    "{n} fields; a docker+machine period has 7 (second minute hour day month weekday year)"
                ));
            }
        };
    for (name, f) in [("minute", minute), ("day of the month", dom), ("month", month)] {
        if !every(f, if name == "minute" { 59 } else { 0 }) {
            return Err(format!("its {name} field is `{f}`; only whole hours of weekdays become windows"));
        }
    }
    if rest.iter().any(|f| !every(f, 59)) {
        return Err("its seconds or year field is not `*`; only whole hours of weekdays become windows".into());
    }
    let hours = ranges(hour, 0, 23, |s| s.parse().ok())?;
    let days = ranges(dow, 0, 7, day_number)?;
    let mut day_set = [false; 7];
    for (a, b) in days {
        for d in a..=b {
            // cron: 0 and 7 are Sunday; DAYS starts on Monday.
            day_set[(d + 6) % 7] = true;
        }
    }
    let days: Vec<&'static str> = DAYS.iter().zip(day_set).filter(|(_, on)| *on).map(|(d, _)| *d).collect();
    let all_hours = hours == [(0, 23)];
    if all_hours && days.len() == 7 {
        return Ok(Period::Always);
    }
    let mut windows = Vec::new();
    for (a, b) in merge(hours) {
        let whole_day = a == 0 && b == 23;
        let to = if whole_day { "23:59".to_owned() } else { format!("{:02}:00", (b + 1) % 24) };
        windows.push(Window { days: days.clone(), from: format!("{a:02}:00"), to, whole_day });
    }
    Ok(Period::Windows(windows))
}

/// `*`, `*/1` or the full range `0-max`.
fn every(field: &str, max: u32) -> bool {
    field == "*" || field == "*/1" || field == "?" || field == format!("0-{max}")
}

/// Ranges of a cron field: `*`, `a`, `a-b` and lists of them.
fn ranges(
    field: &str,
    min: usize,
    max: usize,
    number: impl Fn(&str) -> Option<usize>,
) -> Result<Vec<(usize, usize)>, String> {
    if field == "*" || field == "?" {
        return Ok(vec![(min, if max == 7 { 6 } else { max })]);
    }
    let mut out = Vec::new();
    for item in field.split(',') {
        let (a, b) = match item.split_once('-') {
            Some((a, b)) => (number(a), number(b)),
            None => (number(item), number(item)),
        };
        match (a, b) {
            (Some(a), Some(b)) if a <= b && b <= max && a >= min => out.push((a, b)),
            _ => {
                return Err(format!(
                    "`{item}` in `{field}` is not a range runnergen reads (steps and wrapping ranges are not)"
                ));
            }
        }
    }
    Ok(out)
}

fn day_number(s: &str) -> Option<usize> {
    let names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    names.iter().position(|n| n.eq_ignore_ascii_case(s)).or_else(|| s.parse().ok())
}

/// Hour ranges sorted, with touching ones joined (`0-9,10-12` is `0-12`).
fn merge(mut hours: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    hours.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (a, b) in hours {
        match out.last_mut() {
            Some(last) if a <= last.1 + 1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(days: &[&'static str], from: &str, to: &str) -> Window {
        Window { days: days.to_vec(), from: from.into(), to: to.into(), whole_day: false }
    }

    #[test]
    fn hour_ranges_are_inclusive() {
        assert_eq!(
            period("* 7-19 * * mon-fri", false),
            Ok(Period::Windows(vec![w(&["MON", "TUE", "WED", "THU", "FRI"], "07:00", "20:00")]))
        );
    }

    #[test]
    fn docker_machine_periods_have_seconds_and_years() {
        assert_eq!(
            period("* * 0-9,17-23 * * mon-fri *", true),
            Ok(Period::Windows(vec![
                w(&["MON", "TUE", "WED", "THU", "FRI"], "00:00", "10:00"),
                w(&["MON", "TUE", "WED", "THU", "FRI"], "17:00", "00:00"),
            ]))
        );
        let weekend = period("* * * * * sat,sun *", true);
        let Ok(Period::Windows(ws)) = weekend else { panic!("{weekend:?}") };
        assert_eq!((ws[0].days.clone(), ws[0].to.as_str(), ws[0].whole_day), (vec!["SAT", "SUN"], "23:59", true));
    }

    #[test]
    fn every_minute_is_the_base() {
        assert_eq!(period("* * * * *", false), Ok(Period::Always));
        assert_eq!(period("* * * * * * *", true), Ok(Period::Always));
    }

    #[test]
    fn what_is_not_whole_hours_is_refused() {
        assert!(period("30 7 * * 1-5", false).is_err());
        assert!(period("* */2 * * *", false).is_err());
        assert!(period("* 7-19 * *", false).is_err());
        assert!(period("* 22-6 * * *", false).is_err());
    }

    #[test]
    fn sunday_is_0_or_7() {
        let Ok(Period::Windows(ws)) = period("* 8 * * 0", false) else { panic!() };
        assert_eq!(ws[0].days, vec!["SUN"]);
        let Ok(Period::Windows(ws)) = period("* 8 * * 5-7", false) else { panic!() };
        assert_eq!(ws[0].days, vec!["FRI", "SAT", "SUN"]);
    }
}
