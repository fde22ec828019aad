//! An integration's uses on its page: a one-line summary, a chart of the last 30 days
//! (inline SVG drawn on the server: no script, no inline style), and the same days as a
//! table, which is the chart's text alternative.

use maud::{Markup, html};
use time::Date;

use super::{count, last_used_every, uses};
use crate::domain::usage::{Usage, UsageDay, UseTotals};
use crate::http::settings::web::Site;

/// How many days the chart shows (fewer if the usage retention keeps fewer).
const CHART_DAYS: usize = 30;

/// The chart in the SVG's own units. It is stretched to the width of its card at a fixed
/// height (`preserveAspectRatio="none"`), so only horizontal things may be drawn with
/// detail: the old tokens' stripes are horizontal and stay sharp at any width.
const WIDTH: f64 = 600.0;
const HEIGHT: f64 = 160.0;
/// The scale's top line and the baseline.
const TOP: f64 = 8.0;
const BASE: f64 = 152.0;
/// The least height of a part of a bar that has uses: one use among thousands still shows.
const MIN_PART: f64 = 1.5;
/// The id of the old tokens' stripes (one chart per page).
const STRIPES: &str = "pi-usage-stripes";

/// The card of an integration's uses; `usage` is `None` when it could not be read (the
/// rest of the page shows all the same).
pub(in crate::http::settings) fn card(site: &Site, usage: Option<&Usage>) -> Markup {
    let days = usage.map_or(&[][..], |usage| usage.recent_days(CHART_DAYS));
    let heading = match days.len() {
        1 => "Uses today".to_owned(),
        0 => format!("Uses in the last {CHART_DAYS} days"),
        n => format!("Uses in the last {n} days"),
    };
    html! {
        section.pi-card aria-labelledby="pi-usage-title" {
            h2 #pi-usage-title { (heading) }
            @match usage {
                None => p.pi-muted { "Uses cannot be shown right now. Reload the page to try again." },
                Some(usage) if !usage.recorded() => p.pi-muted { "Uses are not counted by this service." },
                Some(_) => {
                    (summary(days))
                    @if days.iter().any(|day| day.total() > 0) {
                        (chart(days))
                        (table(days))
                    }
                    p.pi-hint {
                        "Days are UTC days."
                        @if let Some(every) = last_used_every(site) { " Uses are updated " (every) "." }
                    }
                }
            }
        }
    }
}

/// "1,204 uses in the last 30 days (104 of them with an old token), 37 today."
fn summary(days: &[UsageDay]) -> Markup {
    let sum = UseTotals::sum_of(days);
    let (total, old) = (sum.total(), sum.previous());
    let today = days.last().map_or(0, UsageDay::total);
    let period = match days.len() {
        1 => "today".to_owned(),
        n => format!("in the last {n} days"),
    };
    html! {
        p.pi-usage-summary {
            @if total == 0 {
                "No uses " (period) "."
            } @else {
                (uses(total)) " " (period)
                @if old > 0 { " (" (count(old)) " of them with an old token)" }
                @if days.len() > 1 { ", " (count(today)) " today" }
                "."
            }
        }
    }
}

/// The days as stacked bars, oldest on the left: the current token's uses at the bottom,
/// solid; the old tokens' above them, striped. A picture only (`aria-hidden`): the
/// summary and the table say the same in words.
fn chart(days: &[UsageDay]) -> Markup {
    let top = scale_top(days.iter().map(UsageDay::total).max().unwrap_or(0));
    let slot = WIDTH / days.len().max(1) as f64;
    let bar = slot * 0.7;
    html! {
        div.pi-chart aria-hidden="true" {
            ul.pi-legend {
                li { span.pi-swatch.pi-swatch-current {} "Current token" }
                li { span.pi-swatch.pi-swatch-old {} "Old tokens" }
            }
            div.pi-chart-plot {
                div.pi-chart-scale { span { (count(top)) } span { "0" } }
                svg.pi-chart-svg xmlns="http://www.w3.org/2000/svg" width="100%" height=(HEIGHT)
                    viewBox={ "0 0 " (WIDTH) " " (HEIGHT) } preserveAspectRatio="none" focusable="false" {
                    defs {
                        pattern id=(STRIPES) width="4" height="4" patternUnits="userSpaceOnUse" {
                            rect.pi-chart-old-bg width="4" height="4" {}
                            rect.pi-chart-old-line width="4" height="2" {}
                        }
                    }
                    line.pi-chart-grid x1="0" x2=(WIDTH) y1=(TOP) y2=(TOP) vector-effect="non-scaling-stroke" {}
                    @for (i, day) in days.iter().enumerate() {
                        @if day.total() > 0 {
                            (day_bar(i, slot, bar, day, top))
                        }
                    }
                    line.pi-chart-axis x1="0" x2=(WIDTH) y1=(BASE) y2=(BASE) vector-effect="non-scaling-stroke" {}
                }
                div.pi-chart-dates {
                    span { (days.first().map(|day| short_date(day.date())).unwrap_or_default()) }
                    span { "Today" }
                }
            }
        }
    }
}

/// One day's bar: the current token's part on the baseline, the old tokens' above it.
fn day_bar(i: usize, slot: f64, bar: f64, day: &UsageDay, top: u64) -> Markup {
    let x = format!("{:.2}", i as f64 * slot + (slot - bar) / 2.0);
    let width = format!("{bar:.2}");
    let current = part(day.current(), top);
    let old = part(day.previous(), top);
    html! {
        g {
            title {
                (short_date(day.date())) ": " (uses(day.current())) " with the current token, "
                (uses(day.previous())) " with an old token"
            }
            @if current > 0.0 {
                rect.pi-chart-current x=(x) width=(width)
                    y=(format!("{:.2}", BASE - current)) height=(format!("{current:.2}")) {}
            }
            @if old > 0.0 {
                rect.pi-chart-old x=(x) width=(width) fill={ "url(#" (STRIPES) ")" }
                    y=(format!("{:.2}", BASE - current - old)) height=(format!("{old:.2}"))
                    vector-effect="non-scaling-stroke" {}
            }
        }
    }
}

/// The height of `uses` on a scale whose top line is `top`; at least [`MIN_PART`] if any.
fn part(uses: u64, top: u64) -> f64 {
    if uses == 0 || top == 0 {
        return 0.0;
    }
    ((uses as f64 / top as f64) * (BASE - TOP)).max(MIN_PART)
}

/// The scale's top: the busiest day rounded up to a round number (1, 1.5, 2, 2.5, 3, 4,
/// 5, 6 or 8 times a power of ten, a whole number), so the tallest bar nearly fills the
/// plot and its top line reads well.
fn scale_top(busiest: u64) -> u64 {
    let mut power = 1u64;
    loop {
        for tenths in [10, 15, 20, 25, 30, 40, 50, 60, 80] {
            let Some(scaled) = power.checked_mul(tenths) else {
                return busiest;
            };
            if scaled % 10 == 0 && scaled / 10 >= busiest {
                return scaled / 10;
            }
        }
        match power.checked_mul(10) {
            Some(next) => power = next,
            None => return busiest,
        }
    }
}

/// The days as a table, newest first: the chart in words.
fn table(days: &[UsageDay]) -> Markup {
    html! {
        details.pi-usage-table {
            summary { "Show as a table" }
            table {
                caption.pi-sr { "Uses per day, newest first" }
                thead {
                    tr {
                        th scope="col" { "Date (UTC)" }
                        th.pi-num scope="col" { "Current token" }
                        th.pi-num scope="col" { "Old tokens" }
                    }
                }
                tbody {
                    @for day in days.iter().rev() {
                        tr {
                            th scope="row" { (long_date(day.date())) }
                            td.pi-num { (count(day.current())) }
                            td.pi-num { (count(day.previous())) }
                        }
                    }
                }
            }
        }
    }
}

/// `March 3`.
fn short_date(date: Date) -> String {
    format!("{} {}", date.month(), date.day())
}

/// `March 3, 2026`.
fn long_date(date: Date) -> String {
    format!("{} {}, {}", date.month(), date.day(), date.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_tops_the_busiest_day_in_round_steps() {
        let tops: Vec<u64> = [0, 1, 2, 3, 7, 10, 11, 37, 1_204, 5_000, 5_001, 8_001]
            .into_iter()
            .map(scale_top)
            .collect();
        assert_eq!(
            tops,
            [1, 1, 2, 3, 8, 10, 15, 40, 1_500, 5_000, 6_000, 10_000]
        );
        assert_eq!(scale_top(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_day_with_uses_always_shows() {
        assert_eq!(part(0, 1_000), 0.0);
        assert_eq!(part(1, 1_000_000), MIN_PART);
        assert_eq!(part(10, 10), BASE - TOP);
    }

    #[test]
    fn a_summary_of_huge_counts_saturates() {
        use crate::domain::{ids::TokenId, usage::TokenUses};
        use time::macros::datetime;
        let (current, old) = (
            TokenId::parse("CCCCCCCCCCCCCCCC").unwrap(),
            TokenId::parse("PPPPPPPPPPPPPPPP").unwrap(),
        );
        let counts = [
            TokenUses::new(current, datetime!(2026-12-05 10:00 UTC), u64::MAX - 1),
            TokenUses::new(old, datetime!(2026-12-06 10:00 UTC), u64::MAX - 1),
            TokenUses::new(current, datetime!(2026-12-07 10:00 UTC), 5),
        ];
        let usage =
            Usage::from_counts(datetime!(2026-12-07 11:00 UTC), 30, &current, &counts, true);
        let text = summary(usage.days()).into_string();
        // Wrapped, the total would read 1 (and panic in a debug build).
        let want = format!(
            "{} in the last 30 days ({} of them with an old token), 5 today.",
            uses(u64::MAX),
            count(u64::MAX - 1),
        );
        assert!(text.contains(&want), "{text}");
    }
}
