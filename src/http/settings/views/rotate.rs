//! The warning before a rotation, with "Continue".

use maud::{Markup, html};

use super::{days, layout, refusal, when};
use crate::domain::credentials::RotationMode;
use crate::domain::integration::Integration;
use crate::http::settings::refusal::Refusal;
use crate::http::settings::web::Site;

/// The path segment of each mode: `/{id}/rotate/later`, `/{id}/rotate/now`.
pub(in crate::http::settings) fn segment(mode: RotationMode) -> &'static str {
    match mode {
        RotationMode::ExpireLater => "later",
        RotationMode::ExpireNow => "now",
    }
}

pub(in crate::http::settings) fn render(
    site: &Site,
    integration: &Integration,
    mode: RotationMode,
    refused: Option<&Refusal>,
) -> Markup {
    let id = integration.id().as_str();
    let title = match mode {
        RotationMode::ExpireLater => "Rotate and expire this token later",
        RotationMode::ExpireNow => "Rotate and expire this token now",
    };
    let grace = days(site.config.pi.grace_period());
    if let (RotationMode::ExpireLater, Some(pending)) = (mode, integration.pending_rotation()) {
        return layout(
            site,
            title,
            None,
            html! {
                (refusal(refused))
                div.pi-card {
                    div.pi-notice.pi-notice-warning role="alert" {
                        p { strong { "A rotation of " span.pi-name { (integration.name()) } " is already in progress." } }
                        p {
                            "Both the old and the new token work until " (when(pending.previous_expires_at()))
                            ". To rotate and expire this token later, first cancel the rotation or \
                             expire the old token now."
                        }
                    }
                    div.pi-actions {
                        form method="post" action=(site.url(&format!("/{id}/rotation/cancel"))) {
                            (super::once())
                            button.pi-secondary type="submit" { "Cancel rotation" }
                        }
                        form method="post" action=(site.url(&format!("/{id}/rotation/expire"))) {
                            (super::once())
                            button type="submit" { "Expire now" }
                        }
                        a href=(site.url(&format!("/{id}"))) { "Back to the integration" }
                    }
                }
            },
        );
    }
    let body = html! {
        (refusal(refused))
        div.pi-card {
            div.pi-notice.pi-notice-warning {
                @match mode {
                    RotationMode::ExpireLater => {
                        p { strong { "A new token will be generated for " span.pi-name { (integration.name()) } "." } }
                        p {
                            "You will have a " (grace) "-day window where both the old and new \
                             tokens will continue to work. After " (grace) " days, the old token \
                             will expire. Update your third-party application with the new token \
                             before then."
                        }
                    }
                    _ => {
                        p { strong { "A new token will be generated for " span.pi-name { (integration.name()) } ", and the current token will stop working immediately." } }
                        p {
                            "Every application that still uses the current token will be refused \
                             until it is updated with the new one."
                        }
                    }
                }
            }
            p { "Are you sure you want to proceed with the rotation?" }
            form method="post" action=(site.url(&format!("/{id}/rotate/{}", segment(mode)))) {
                (super::once())
                div.pi-actions {
                    button type="submit" { "Continue" }
                    a.pi-button.pi-secondary href=(site.url(&format!("/{id}"))) { "Cancel" }
                }
            }
        }
    };
    layout(site, title, None, body)
}
