//! The screens, one module each, and the layout and pieces they share. Templates are
//! maud's `html!`: checked when the crate compiles, and every `(value)` is escaped.

pub(super) mod again;
pub(super) mod audit;
pub(super) mod delete;
pub(super) mod integration;
pub(super) mod labs;
pub(super) mod leak;
pub(super) mod list;
pub(super) mod message;
pub(super) mod rotate;
pub(super) mod stale;
pub(super) mod steps;
pub(super) mod team;
pub(super) mod token;
pub(super) mod usage;

use maud::{DOCTYPE, Markup, html};
use time::{OffsetDateTime, UtcOffset};

use super::assets;
use super::refusal::Refusal;
use super::web::Site;
use crate::domain::integration::Integration;
use crate::domain::scope::ScopeCatalog;

/// A form's one-time key (`once`, a hidden field): a fresh random key each time a
/// form that changes something is shown, so that a second submission of that very form
/// (a reload of the answer, Back then Forward, a double click, a second tab) is known
/// and does nothing ([`PrivateIntegrations::once`](crate::PrivateIntegrations::once)).
/// Without randomness the field is left out, and the form works as before.
pub(super) fn once() -> Markup {
    let key = crate::domain::ids::IntegrationId::generate(&mut rand::rngs::SysRng).ok();
    html! {
        @if let Some(key) = key {
            input type="hidden" name="once" value=(key.as_str());
        }
    }
}

/// The tabs of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tab {
    Integrations,
    Team,
    Labs,
    AuditLog,
}

/// Every screen's frame: head, breadcrumb, title, tabs, then the screen.
pub(super) fn layout(site: &Site, title: &str, tab: Option<Tab>, body: Markup) -> Markup {
    let config = &site.config;
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Private Integrations" }
                link rel="icon" type="image/svg+xml" href=(asset_url(site, &assets::ICON));
                link rel="stylesheet" href=(asset_url(site, &assets::CSS));
                @if let Some(href) = &config.stylesheet {
                    link rel="stylesheet" href=(href);
                }
                script src=(asset_url(site, &assets::JS)) defer {}
            }
            body.pi {
                a.pi-skip href="#main" { "Skip to content" }
                div.pi-page {
                    header {
                        nav.pi-breadcrumb aria-label="Breadcrumb" {
                            ol {
                                li {
                                    @if let Some(href) = &config.settings_link {
                                        a href=(href) { "Settings" }
                                    } @else {
                                        "Settings"
                                    }
                                }
                                li { a href=(site.url("")) { "Private Integrations" } }
                            }
                        }
                        h1 { (title) }
                    }
                    @if let Some(current) = tab {
                        (tabs(site, current))
                    }
                    main #main { (body) }
                }
            }
        }
    }
}

fn asset_url(site: &Site, asset: &assets::Asset) -> String {
    format!(
        "{}?v={}",
        site.url(&format!("/assets/{}", asset.name)),
        asset.version()
    )
}

fn tabs(site: &Site, current: Tab) -> Markup {
    let mut items = vec![(Tab::Integrations, "Integrations", site.url(""))];
    if site.admin {
        items.push((Tab::Team, "Team permissions", site.url("/team")));
        items.push((Tab::Labs, "Labs", site.url("/labs")));
    }
    items.push((Tab::AuditLog, "Audit log", site.url("/audit-log")));
    html! {
        nav.pi-tabs aria-label="Private Integrations" {
            @for (tab, label, href) in items {
                @if tab == current {
                    a href=(href) aria-current="page" { (label) }
                } @else {
                    a href=(href) { (label) }
                }
            }
        }
    }
}

/// A time as the page shows it: exact, in UTC, with a machine-readable `datetime`.
pub(super) fn when(at: OffsetDateTime) -> Markup {
    html! { time datetime=(machine_time(at)) { (human_time(at)) } }
}

/// A time as how long ago it was at `now` ("3 minutes ago"), the exact time in its
/// `datetime` and its tooltip. A time after `now` (another replica's clock ahead) is
/// "less than a minute ago".
pub(super) fn ago(now: OffsetDateTime, at: OffsetDateTime) -> Markup {
    let secs = u64::try_from((now - at).whole_seconds()).unwrap_or(0);
    let (n, unit) = match secs {
        s if s < 60 => (0, ""),
        s if s < 3_600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3_600, "hour"),
        s => (s / 86_400, "day"),
    };
    let text = match n {
        0 => "less than a minute ago".to_owned(),
        1 => format!("1 {unit} ago"),
        n => format!("{n} {unit}s ago"),
    };
    html! { time datetime=(machine_time(at)) title=(human_time(at)) { (text) } }
}

/// `2026-03-08T09:00:00Z`, for a `datetime` attribute.
fn machine_time(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    )
}

/// A count as the page shows it, in groups of three digits: `1,204`.
pub(super) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// "1 use", "1,204 uses".
pub(super) fn uses(n: u64) -> String {
    if n == 1 {
        "1 use".to_owned()
    } else {
        format!("{} uses", count(n))
    }
}

/// `March 8, 2026 at 09:00 UTC`.
pub(super) fn human_time(at: OffsetDateTime) -> String {
    let utc = at.to_offset(UtcOffset::UTC);
    format!(
        "{} {}, {} at {:02}:{:02} UTC",
        utc.month(),
        utc.day(),
        utc.year(),
        utc.hour(),
        utc.minute()
    )
}

/// A whole number of days, for "a 7-day window".
pub(super) fn days(duration: time::Duration) -> i64 {
    duration.whole_days()
}

/// A token's last use: its time, "Never used", or nothing at all where this service
/// records no uses (last used turned off, or no runtime to write them from), since
/// "never" would then be a guess.
pub(super) fn last_used(site: &Site, used: Option<OffsetDateTime>) -> Option<Markup> {
    match used {
        Some(at) => Some(when(at)),
        None if site.config.pi.records_last_used() => Some(html! { "Never used" }),
        None => None,
    }
}

/// How often last-used times are updated, as the page says it ("every minute"), where
/// this service records them: they are late by up to that much.
pub(super) fn last_used_every(site: &Site) -> Option<String> {
    site.config.pi.last_used_interval().map(every)
}

/// "every minute", "every 10 minutes", "every hour", "every 30 seconds".
fn every(interval: std::time::Duration) -> String {
    let secs = interval.as_secs().max(1);
    let (n, unit) = [
        (86_400, "day"),
        (3_600, "hour"),
        (60, "minute"),
        (1, "second"),
    ]
    .into_iter()
    .find(|(size, _)| secs >= *size && secs.is_multiple_of(*size))
    .map_or((secs, "second"), |(size, unit)| (secs / size, unit));
    if n == 1 {
        format!("every {unit}")
    } else {
        format!("every {n} {unit}s")
    }
}

/// A success or warning notice at the top of a screen.
pub(super) fn notice(kind: &str, text: &str) -> Markup {
    html! {
        div class={ "pi-notice pi-notice-" (kind) } role="status" {
            p { (text) }
        }
    }
}

/// A refusal of the service, at the top of the form it is about.
pub(super) fn refusal(refusal: Option<&Refusal>) -> Markup {
    html! {
        @if let Some(refusal) = refusal {
            div.pi-notice.pi-notice-error role="alert" id="pi-error" {
                p { (refusal.message) }
            }
        }
    }
}

/// A scope as people read it: its label (or its name), its description, its name.
pub(super) fn scope(catalog: ScopeCatalog, name: &str) -> Markup {
    html! {
        @if let Some(label) = catalog.label(name) {
            strong { (label) } " "
            code.pi-scope-name { (name) }
            @if let Some(description) = catalog.description(name) {
                span.pi-hint { (description) }
            }
        } @else {
            code { (name) }
        }
    }
}

/// The three-dot menu of an integration: "Edit" and "Delete". A `<details>` element, so
/// it opens without JavaScript.
pub(super) fn menu(site: &Site, integration: &Integration) -> Markup {
    let id = integration.id().as_str();
    html! {
        details.pi-menu {
            summary aria-label={ "Actions for " (integration.name()) } title="Actions" { "⋯" }
            ul {
                li { a href=(site.url(&format!("/{id}/edit"))) { "Edit" } }
                li { a.pi-menu-danger href=(site.url(&format!("/{id}/delete"))) { "Delete" } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;
    use time::macros::datetime;

    #[test]
    fn counts_are_grouped_by_thousands() {
        let shown: Vec<String> = [0, 7, 999, 1_000, 1_204, 12_345, 999_999, 1_000_000]
            .into_iter()
            .map(count)
            .collect();
        assert_eq!(
            shown,
            [
                "0",
                "7",
                "999",
                "1,000",
                "1,204",
                "12,345",
                "999,999",
                "1,000,000"
            ]
        );
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(
            (uses(1), uses(0), uses(1_204)),
            ("1 use".into(), "0 uses".into(), "1,204 uses".into())
        );
    }

    #[test]
    fn ago_says_how_long_ago_in_the_largest_whole_unit() {
        let now = datetime!(2026-03-08 09:00 UTC);
        let said = |before: Duration| {
            let text = ago(now, now - before).into_string();
            let start = text.find('>').unwrap() + 1;
            text[start..text.len() - "</time>".len()].to_owned()
        };
        assert_eq!(said(Duration::seconds(59)), "less than a minute ago");
        assert_eq!(
            said(-Duration::minutes(5)),
            "less than a minute ago",
            "a clock ahead"
        );
        assert_eq!(said(Duration::seconds(60)), "1 minute ago");
        assert_eq!(said(Duration::minutes(59)), "59 minutes ago");
        assert_eq!(said(Duration::minutes(60)), "1 hour ago");
        assert_eq!(said(Duration::hours(23)), "23 hours ago");
        assert_eq!(said(Duration::hours(49)), "2 days ago");
        assert_eq!(
            ago(now, datetime!(2026-03-08 08:57 UTC)).into_string(),
            "<time datetime=\"2026-03-08T08:57:00Z\" title=\"March 8, 2026 at 08:57 UTC\">3 minutes ago</time>"
        );
    }
}
