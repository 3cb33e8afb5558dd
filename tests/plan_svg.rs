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
        let fleet = runnergen::load_fleet(&spec).expect("loads");
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
