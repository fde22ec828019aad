//! Labs (admins): the feature switch of the account.

use maud::{Markup, html};

use super::{Tab, layout, notice, refusal};
use crate::http::settings::refusal::Refusal;
use crate::http::settings::web::Site;

pub(in crate::http::settings) fn render(
    site: &Site,
    enabled: bool,
    done: Option<&'static str>,
    refused: Option<&Refusal>,
) -> Markup {
    let body = html! {
        @if let Some(done) = done { (notice("success", done)) }
        (refusal(refused))
        p.pi-lead { "Features you can switch on or off for your whole account." }
        form.pi-card method="post" action=(site.url("/labs")) {
            (super::once())
            h2 { "Private Integrations" }
            p {
                "Private Integrations are " strong { @if enabled { "on" } @else { "off" } }
                " for this account."
            }
            p.pi-muted.pi-small {
                "While they are off, nobody can see, create, edit, rotate or delete Private \
                 Integrations, nor read their audit log: those screens only say that they \
                 are switched off. Admins keep Team permissions and Labs. Tokens already \
                 issued keep working."
            }
            div.pi-actions {
                @if enabled {
                    input type="hidden" name="enabled" value="false";
                    button.pi-secondary type="submit" { "Switch off" }
                } @else {
                    input type="hidden" name="enabled" value="true";
                    button type="submit" { "Switch on" }
                }
            }
        }
    };
    layout(site, "Labs", Some(Tab::Labs), body)
}
