//! `runnergen plan --svg`: the fleet's week as one self-contained SVG chart. Hours run across,
//! instances up; each pool is a band of its desired instances, stacked in spec order, with its
//! min and max as lines over it. Pools in other time zones are shifted into the first scheduled
//! pool's zone by their offsets in one fixed week (stated in the caption), so the chart is the
//! same on every run.

use chrono::{NaiveDate, Offset, TimeZone};

use super::{DAYS, Plan, WEEK_MINUTES, at, share};

const WIDTH: f64 = 960.0;
/// Characters of the caption a line holds at its font size.
const CAPTION_LINE: usize = 140;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 48.0;
const PLOT_HEIGHT: f64 = 300.0;
/// Fill colours of the pools' bands, in spec order (repeating); colour-blind safe (Okabe-Ito).
const COLOURS: [&str; 7] = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"];
/// The week whose offsets align the time zones: Monday 5 January 2026, winter in the north.
const REFERENCE: (i32, u32, u32) = (2026, 1, 5);
/// Minutes a step of the chart spans: fine enough for any schedule's minutes, small to draw.
const STEP: u32 = 5;

pub fn render(plan: &Plan) -> String {
    let zone = plan.pools.iter().find_map(|p| p.time_zone.clone()).unwrap_or_else(|| "Etc/UTC".into());
    let shifts: Vec<i64> = plan
        .pools
        .iter()
        .map(|p| p.time_zone.as_deref().map_or(0, |z| offset_minutes(z) - offset_minutes(&zone)))
        .collect();
    // Each pool's (min, desired, max) at each step of the chart's week.
    let steps = (WEEK_MINUTES / STEP) as usize;
    let series: Vec<Vec<[u32; 3]>> = plan
        .pools
        .iter()
        .zip(&shifts)
        .map(|(p, shift)| {
            (0..steps)
                .map(|i| {
                    let minute = (i as i64 * i64::from(STEP) + shift).rem_euclid(i64::from(WEEK_MINUTES)) as u32;
                    let c = at(&p.week, minute);
                    [c.min, c.desired, c.max]
                })
                .collect()
        })
        .collect();
    let peak = (0..steps).map(|i| series.iter().map(|s| s[i][2]).sum::<u32>()).max().unwrap_or(0).max(1);
    let top = nice_top(peak);
    let plot_width = WIDTH - LEFT - RIGHT;
    let x = |step: usize| LEFT + plot_width * step as f64 / steps as f64;
    let y = |n: f64| TOP + PLOT_HEIGHT - PLOT_HEIGHT * n / f64::from(top);

    let t = &plan.total;
    // The busiest step of the week, as scheduled: the first one with the most desired instances.
    let desired_at = |i: usize| series.iter().map(|s| s[i][1]).sum::<u32>();
    let busiest = (0..steps).fold(0, |best, i| if desired_at(i) > desired_at(best) { i } else { best });
    let minute = busiest as u32 * STEP;
    let cost = match (&t.cost, &plan.currency) {
        (Some(c), Some(currency)) => {
            format!(" Cost a week ({currency}): min {:.2}, desired {:.2}, max {:.2}.", c.min, c.desired, c.max)
        }
        _ => String::new(),
    };
    let caption = wrap(
        &format!(
            "Band: desired instances; dotted line: min; dashed line: max; pools stacked in the order of the spec. \
             Peak: {} desired instances from {} {:02}:{:02}, {} at most. \
             Instance-hours a week: min {:.0}, desired {:.0}, max {:.0}; always-on max {:.0} (desired is {:.1} % of it).{cost} \
             Time zones are aligned by their offsets in the week of 5 January 2026.",
            desired_at(busiest),
            DAYS[(minute / 1440) as usize % 7],
            minute % 1440 / 60,
            minute % 60,
            peak,
            t.instance_hours.min,
            t.instance_hours.desired,
            t.instance_hours.max,
            t.always_on_max_hours,
            share(&t.instance_hours, t.always_on_max_hours)
        ),
        CAPTION_LINE,
    );
    let legend_rows = plan.pools.len().max(1) as f64;
    let legend_top = TOP + PLOT_HEIGHT + 52.0;
    let caption_top = legend_top + 16.0 * (legend_rows - 1.0) + 24.0;
    let height = caption_top + 15.0 * caption.len() as f64 + 8.0;
    let mut out = String::new();
    out.push_str(&format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n"
    ));
    out.push_str(&format!("<title>{}</title>\n", escape(&format!("runnergen plan: the week of fleet {}", plan.fleet))));
    out.push_str(&format!("<rect width=\"{WIDTH}\" height=\"{height}\" fill=\"#ffffff\"/>\n"));
    out.push_str(&format!(
        "<text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">instances</text>\n",
        TOP + PLOT_HEIGHT / 2.0
    ));
    out.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"24\" font-size=\"16\" font-weight=\"bold\">{}</text>\n",
        escape(&format!("Fleet {}: instances in force over one week ({zone})", plan.fleet))
    ));
    // Grid: instance counts up, days and every sixth hour across.
    let tick = (top / 5).max(1);
    for n in (0..=top).step_by(tick as usize) {
        let yy = y(f64::from(n));
        out.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#dddddd\"/>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{n}</text>\n",
            WIDTH - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        ));
    }
    let per_hour = (60 / STEP) as usize;
    for h in 0..=168usize {
        let xx = x(h * per_hour);
        if h % 24 == 0 {
            out.push_str(&format!(
                "<line x1=\"{xx:.1}\" y1=\"{TOP}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"#888888\"/>\n",
                TOP + PLOT_HEIGHT
            ));
            if h < 168 {
                out.push_str(&format!(
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-weight=\"bold\">{}</text>\n",
                    x(h * per_hour + 12 * per_hour),
                    TOP + PLOT_HEIGHT + 30.0,
                    DAYS[h / 24]
                ));
            }
        } else if h % 6 == 0 {
            out.push_str(&format!(
                "<line x1=\"{xx:.1}\" y1=\"{TOP}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"#eeeeee\"/>\n<text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\" fill=\"#666666\">{:02}</text>\n",
                TOP + PLOT_HEIGHT,
                TOP + PLOT_HEIGHT + 13.0,
                h % 24
            ));
        }
    }
    // Bands, bottom-up: desired from the pools below to themselves; min and max as lines.
    let mut below = vec![0u32; steps];
    for (k, (p, s)) in plan.pools.iter().zip(&series).enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let upper: Vec<u32> = (0..steps).map(|i| below[i] + s[i][1]).collect();
        let mut points = steps_line(&upper, &x, &y);
        let lower = steps_line(&below, &x, &y);
        points.extend(lower.into_iter().rev());
        let polygon: Vec<String> = points.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
        out.push_str(&format!(
            "<polygon points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.6\" stroke=\"{colour}\"><title>{}</title></polygon>\n",
            polygon.join(" "),
            escape(&format!("{}: desired", p.name))
        ));
        for (which, dash) in [(0usize, "2,2"), (2usize, "6,3")] {
            let line: Vec<u32> = (0..steps).map(|i| below[i] + s[i][which]).collect();
            let points: Vec<String> = steps_line(&line, &x, &y).iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            out.push_str(&format!(
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\" stroke-dasharray=\"{dash}\"/>\n",
                points.join(" ")
            ));
        }
        below = upper;
    }
    out.push_str(&format!(
        "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{plot_width:.1}\" height=\"{PLOT_HEIGHT}\" fill=\"none\" stroke=\"#444444\"/>\n"
    ));
    // Legend: a line a pool, with its zone and how it was aligned.
    let mut legend_y = legend_top;
    for (k, (p, shift)) in plan.pools.iter().zip(&shifts).enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let column = LEFT;
        if k > 0 {
            legend_y += 16.0;
        }
        let zone_note = match (&p.time_zone, shift) {
            (None, _) => "no schedule".to_owned(),
            (Some(z), 0) => z.clone(),
            (Some(z), s) => format!("{z}, shifted by {:+} h", -(*s as f64) / 60.0),
        };
        out.push_str(&format!(
            "<rect x=\"{column:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{colour}\" fill-opacity=\"0.6\" stroke=\"{colour}\"/>\n<text x=\"{:.1}\" y=\"{legend_y:.1}\">{}</text>\n",
            legend_y - 10.0,
            column + 18.0,
            escape(&format!(
                "{} ({}, {zone_note}): desired {:.0} h a week",
                p.name,
                p.topology.as_str(),
                p.instance_hours.desired
            ))
        ));
    }
    for (i, line) in caption.iter().enumerate() {
        out.push_str(&format!(
            "<text x=\"{LEFT}\" y=\"{:.1}\" font-size=\"11\" fill=\"#333333\">{}</text>\n",
            caption_top + 15.0 * i as f64,
            escape(line)
        ));
    }
    out.push_str("</svg>\n");
    out
}

/// The points of a step line through `values` (one a chart step): corners only where it changes.
fn steps_line(values: &[u32], x: &impl Fn(usize) -> f64, y: &impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
    let mut points = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let v = values[i];
        let mut j = i;
        while j + 1 < values.len() && values[j + 1] == v {
            j += 1;
        }
        points.push((x(i), y(f64::from(v))));
        points.push((x(j + 1), y(f64::from(v))));
        i = j + 1;
    }
    points
}

/// Text broken into lines of at most `width` characters, at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// A round upper bound for the instance axis: 1, 2, 3 or 5 times a power of ten.
fn nice_top(peak: u32) -> u32 {
    let mut unit = 1;
    loop {
        for m in [1, 2, 3, 5] {
            if m * unit >= peak {
                return m * unit;
            }
        }
        unit *= 10;
    }
}

/// A zone's UTC offset in minutes at noon on the reference Monday; 0 for a name chrono-tz does not
/// know (validation accepts only names it knows).
fn offset_minutes(zone: &str) -> i64 {
    let Ok(tz) = zone.parse::<chrono_tz::Tz>() else { return 0 };
    let (y, m, d) = REFERENCE;
    let Some(noon) = NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(12, 0, 0)) else { return 0 };
    i64::from(tz.offset_from_utc_datetime(&noon).fix().local_minus_utc()) / 60
}

/// Text for SVG: `&`, `<`, `>` and quotes escaped, control characters dropped.
fn escape(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_control())
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}
