//! The token, shown once: right after "Create", or after "Continue" on a rotation. This
//! screen is only ever the response to that `POST`; no URL leads back to it.

use maud::{Markup, html};

use super::{days, layout, when};
use crate::domain::credentials::RotationMode;
use crate::domain::integration::Integration;
use crate::domain::token::IssuedToken;
use crate::http::settings::web::Site;

/// Why the token is shown.
pub(in crate::http::settings) enum Issued {
    Created,
    Rotated(RotationMode),
}

pub(in crate::http::settings) fn render(
    site: &Site,
    integration: &Integration,
    token: &IssuedToken,
    issued: Issued,
) -> Markup {
    let title = match issued {
        Issued::Created => "Copy your token",
        Issued::Rotated(_) => "Copy the new token",
    };
    let body = html! {
        div.pi-notice.pi-notice-success role="status" {
            @match issued {
                Issued::Created => p { "Private Integration " strong.pi-name { (integration.name()) } " created." },
                Issued::Rotated(_) => p { "The token of " strong.pi-name { (integration.name()) } " was rotated." },
            }
        }
        div.pi-card {
            @match issued {
                Issued::Created => p {
                    "Copy the generated token and share it with your third-party application developer."
                },
                Issued::Rotated(_) => p {
                    "Copy the new token and update it in your third-party application."
                },
            }
            label.pi-label for="pi-token" { "Token" }
            div.pi-token {
                // The focus starts on the token: "Copy" is the next Tab.
                input #pi-token type="text" readonly value=(token.expose_secret())
                    autocomplete="off" spellcheck="false" aria-describedby="pi-token-warning" autofocus;
                button type="button" data-copy="pi-token" data-copy-status="pi-copied" hidden { "Copy" }
            }
            p.pi-copied #pi-copied role="status" aria-live="polite" {}
            div.pi-notice.pi-notice-warning #pi-token-warning {
                p { strong { "Make sure to share the token only with trusted parties. Do not share it publicly." } }
                @match issued {
                    Issued::Created => p {
                        "Note: Do not forget to copy the generated token, as you will not be able to do so again later."
                    },
                    Issued::Rotated(_) => p {
                        "Note: Don't forget to copy the generated token, as you won't be able to do it again later."
                    },
                }
            }
            @if let (Issued::Rotated(RotationMode::ExpireLater), Some(pending)) = (&issued, integration.pending_rotation()) {
                @let window = days(pending.previous_expires_at() - integration.token_issued_at());
                p {
                    "You will have a " (window) "-day window where both the old and new tokens will \
                     continue to work. After " (window) " days, the old token will expire: on "
                    (when(pending.previous_expires_at())) "."
                }
            }
            @if let Issued::Rotated(RotationMode::ExpireNow) = issued {
                p { "The old token has stopped working." }
            }
            div.pi-actions {
                a.pi-button href=(site.url(&format!("/{}", integration.id()))) { "Done" }
            }
        }
    };
    layout(site, title, None, body)
}
