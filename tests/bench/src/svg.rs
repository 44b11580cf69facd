//! Grouped bar charts as plain SVG: no dependency, and a diff shows what changed.

use std::fmt::Write;

/// One bar per series in every group.
pub struct Series {
    pub name: String,
    /// A CSS colour, the same for a peer in every chart.
    pub color: &'static str,
    pub values: Vec<Option<f64>>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A compact figure: 1234567 -> "1.23 M", 12345 -> "12.3 k".
pub fn short(value: f64) -> String {
    if value >= 1e6 {
        format!("{:.2} M", value / 1e6)
    } else if value >= 1e4 && (value / 1e3).fract() == 0.0 {
        format!("{:.0} k", value / 1e3)
    } else if value >= 1e4 {
        format!("{:.1} k", value / 1e3)
    } else if value >= 100.0 || value.fract() == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The smallest 1, 2, 2.5 or 5 times a power of ten that is at least `value`.
fn nice_ceiling(value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|step| step * magnitude)
        .find(|&candidate| candidate >= value)
        .unwrap_or(10.0 * magnitude)
}

pub fn grouped_bars(title: &str, unit: &str, groups: &[String], series: &[Series]) -> String {
    let (left, top, bottom, right) = (70.0, 50.0, 60.0, 20.0);
    let bar = 24.0;
    let gap = 40.0;
    let group_width = bar * series.len() as f64 + gap;
    let plot_width = (group_width * groups.len() as f64).max(520.0);
    let group_width = plot_width / groups.len().max(1) as f64;
    let plot_height = 260.0;
    let width = left + plot_width + right;
    let legend_columns = ((plot_width / 150.0) as usize).max(1);
    let height = top + plot_height + bottom + 22.0 * series.len().div_ceil(legend_columns) as f64;
    let largest = series
        .iter()
        .flat_map(|s| s.values.iter().flatten())
        .fold(0.0f64, |a, &b| a.max(b));
    // Headroom above the tallest bar for its label, then a round number for the top tick.
    let max = nice_ceiling(largest * 1.2);
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{left}" y="24" font-size="15" font-weight="bold">{}</text>
<text x="{left}" y="40" fill="#555">{}</text>
"##,
        escape(title),
        escape(unit)
    );
    let base = top + plot_height;
    for tick in 0..=4 {
        let y = base - plot_height * f64::from(tick) / 4.0;
        let value = max * f64::from(tick) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" x2="{:.0}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.0}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
            left + plot_width,
            left - 6.0,
            y + 4.0,
            short(value)
        );
    }
    for (g, group) in groups.iter().enumerate() {
        let x0 = left + (group_width - bar * series.len() as f64) / 2.0 + group_width * g as f64;
        for (s, one) in series.iter().enumerate() {
            let x = x0 + bar * s as f64;
            match one.values.get(g).copied().flatten() {
                Some(value) => {
                    let h = plot_height * value / max;
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                        base - h,
                        bar - 3.0,
                        one.color,
                        escape(&one.name),
                        short(value)
                    );
                    // Rotated to read upwards, starting just above the bar.
                    let (lx, ly) = (x + bar / 2.0 + 2.0, base - h - 4.0);
                    let _ = writeln!(
                        svg,
                        r#"<text x="{lx:.1}" y="{ly:.1}" font-size="10" transform="rotate(-90 {lx:.1} {ly:.1})">{}</text>"#,
                        short(value)
                    );
                }
                None => {
                    let _ = writeln!(
                        svg,
                        r##"<text x="{:.1}" y="{:.1}" font-size="9" text-anchor="middle" fill="#999">n/a</text>"##,
                        x + bar / 2.0,
                        base - 4.0
                    );
                }
            }
        }
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x0 + bar * series.len() as f64 / 2.0,
            base + 18.0,
            escape(group)
        );
    }
    for (s, one) in series.iter().enumerate() {
        let x = left + 150.0 * (s % legend_columns) as f64;
        let y = base + 42.0 + 22.0 * (s / legend_columns) as f64;
        let _ = writeln!(
            svg,
            r#"<rect x="{x:.0}" y="{:.0}" width="12" height="12" fill="{}"/><text x="{:.0}" y="{y:.0}">{}</text>"#,
            y - 10.0,
            one.color,
            x + 18.0,
            escape(&one.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}
