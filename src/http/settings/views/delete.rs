//! The confirmation before "Delete".

use maud::{Markup, html};

use super::{layout, refusal};
use crate::domain::integration::Integration;
use crate::http::settings::refusal::Refusal;
use crate::http::settings::web::Site;

pub(in crate::http::settings) fn render(
    site: &Site,
    integration: &Integration,
    refused: Option<&Refusal>,
) -> Markup {
    let id = integration.id().as_str();
    let body = html! {
        (refusal(refused))
        div.pi-card {
            div.pi-notice.pi-notice-error {
                p { strong { "Delete " span.pi-name { (integration.name()) } "?" } }
                p {
                    "Every token of this Private Integration stops working at once, and the \
                     third-party application that uses it loses access. This cannot be undone."
                }
            }
            form method="post" action=(site.url(&format!("/{id}/delete"))) {
                (super::once())
                div.pi-actions {
                    button.pi-danger type="submit" { "Delete" }
                    a.pi-button.pi-secondary href=(site.url(&format!("/{id}"))) { "Cancel" }
                }
            }
        }
    };
    layout(site, "Delete Private Integration", None, body)
}
