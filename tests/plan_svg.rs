//! `runnergen plan --svg`: every example's chart parses as XML (Python's parser) and is drawn by
//! a real SVG renderer (rsvg-convert, from Debian's librsvg2-bin) into a PNG.

use crate::common;

#[test]
fn every_examples_week_chart_is_xml_and_renders_to_png() {
    for (name, spec) in common::examples() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let svg = dir.path().join("week.svg");
        let out = common::run(common::runnergen().args(["plan", "--color", "never", "--svg"]).arg(&svg).arg(&spec));
        common::assert_success(&out, &format!("plan --svg {name}"));
        let parsed = common::run(
            common::tool("python3")
                .args(["-c", "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(r.tag, len(list(r.iter())))"])
                .arg(&svg),
        );
        common::assert_success(&parsed, &format!("{name}: XML"));
        let summary = String::from_utf8_lossy(&parsed.stdout);
        assert!(summary.starts_with("{http://www.w3.org/2000/svg}svg "), "{name}: {summary}");
        let text = std::fs::read_to_string(&svg).expect("read");
        let fleet = runnergen::load_spec(&spec).map(|l| l.fleet).expect("loads");
        for pool in &fleet.pools {
            assert!(text.contains(&format!(">{} (", pool.name)), "{name}: {} has no legend", pool.name);
        }
        for day in ["Mon", "Sun"] {
            assert!(text.contains(&format!(">{day}</text>")), "{name}: no {day} label");
        }
        assert!(text.contains("Instance-hours a week"), "{name}: no totals in the caption");
        let png = dir.path().join("week.png");
        let drawn = common::run(common::tool("rsvg-convert").arg(&svg).arg("-o").arg(&png));
        common::assert_success(&drawn, &format!("{name}: rsvg-convert"));
        let bytes = std::fs::read(&png).expect("a PNG");
        assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
        // Width and height from the IHDR chunk: the SVG's own size.
        let width = u32::from_be_bytes(bytes[16..20].try_into().expect("4 bytes"));
        let height = u32::from_be_bytes(bytes[20..24].try_into().expect("4 bytes"));
        assert_eq!(width, 960, "{name}");
        assert!((400..900).contains(&height), "{name}: {height}");
        assert!(bytes.len() > 10_000, "{name}: a nearly empty picture ({} bytes)", bytes.len());
    }
}

/// The chart names the fleet's peak (when, and how many instances as scheduled and at most) and,
/// with prices, the week's cost. Figures by hand for examples/multi-pool: the docker pool's window
/// (MON-FRI 07:00 to 19:00, Berlin) keeps 2 desired instances beside the always-on shell one, so
/// the peak is 3 from Monday 07:00, at most 10 + 1; the cost as in tests/plan.rs.
#[test]
fn the_chart_names_the_peak_and_with_prices_the_cost() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let spec = common::root().join("examples/multi-pool/fleet.yaml");
    let prices = dir.path().join("prices.yaml");
    std::fs::write(
        &prices,
        "currency: EUR\ninstance_types:\n  m7g.large: {on_demand: 0.1, spot: 0.04}\n  t4g.medium: {on_demand: 0.05}\n",
    )
    .expect("write");
    let caption = |args: &[&str]| {
        let svg = dir.path().join("week.svg");
        let out = common::run(
            common::runnergen().args(["plan", "--color", "never", "--svg"]).arg(&svg).args(args).arg(&spec),
        );
        common::assert_success(&out, "plan --svg");
        // The caption's lines, joined back into one text.
        let text = std::fs::read_to_string(&svg).expect("read");
        text.lines()
            .filter(|l| l.starts_with("<text") && !l.contains("font-weight"))
            .filter_map(|l| l.split_once('>').and_then(|(_, rest)| rest.strip_suffix("</text>")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let plain = caption(&[]);
    assert!(plain.contains("Peak: 3 desired instances from Mon 07:00, 11 at most."), "{plain}");
    assert!(!plain.contains("Cost"), "{plain}");
    let priced = caption(&["--prices", prices.to_str().expect("UTF-8")]);
    assert!(priced.contains("Cost a week (EUR): min "), "{priced}");
    assert!(priced.contains(&format!("desired {:.2}", 120.0 * 0.04 + 168.0 * 0.05)), "{priced}");
}
