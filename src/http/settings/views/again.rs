//! A form sent a second time (a reload, Back then Forward, a double click, a second
//! tab): nothing was done again, and the page says what the first submission did, and
//! when. For a create or a rotation, the token was shown once, to the first submission:
//! the way to a new one is "Rotate and expire this token now".

use maud::{Markup, html};

use super::{Tab, layout, when};
use crate::domain::audit::AuditAction;
use crate::domain::idempotency::AlreadyDone;
use crate::http::settings::web::Site;

pub(in crate::http::settings) fn render(site: &Site, first: &AlreadyDone) -> Markup {
    let integration = first.integration.as_ref();
    let issued_token = matches!(
        first.action,
        AuditAction::Created | AuditAction::Rotated { .. }
    );
    let body = html! {
        div.pi-card {
            p role="status" {
                "This form was already sent, and nothing was done again. The first time, "
                "you " (first.action)
                @if let Some(integration) = integration {
                    " (“" (integration.name()) "”)"
                }
                ", " (when(first.at)) "."
            }
            @if let (true, Some(integration)) = (issued_token, integration) {
                p {
                    "Its token was shown once, then, and cannot be shown again. If it was \
                     not copied, rotate and expire this token now to issue a new one: the \
                     token shown then stops working."
                }
                p.pi-actions {
                    a.pi-button href=(site.url(&format!("/{}/rotate/now", integration.id()))) {
                        "Rotate and expire this token now"
                    }
                    a href=(site.url(&format!("/{}", integration.id()))) { "Open the integration" }
                }
            } @else if let (false, Some(integration)) = (matches!(first.action, AuditAction::Deleted), integration) {
                p { a href=(site.url(&format!("/{}", integration.id()))) { "Open the integration" } }
            } @else {
                p { a href=(site.url("")) { "Back to Private Integrations" } }
            }
        }
    };
    layout(site, "Already done", Some(Tab::Integrations), body)
}
