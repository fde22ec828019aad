//! A screen that only says why the page cannot go on: no permission, the feature switched
//! off, an integration that does not exist, the store unavailable.

use maud::{Markup, html};

use super::{Tab, layout};
use crate::http::settings::refusal::Refusal;
use crate::http::settings::web::Site;

/// `labs`: the refusal is the feature switched off, so an admin gets a way to Labs.
pub(in crate::http::settings) fn render(
    site: &Site,
    title: &str,
    refusal: &Refusal,
    labs: bool,
) -> Markup {
    let body = html! {
        div.pi-card.pi-empty {
            p role="alert" { (refusal.message) }
            @if site.admin && labs {
                p { a.pi-button href=(site.url("/labs")) { "Open Labs" } }
            } @else {
                p { a href=(site.url("")) { "Back to Private Integrations" } }
            }
        }
    };
    layout(site, title, Some(Tab::Integrations), body)
}
