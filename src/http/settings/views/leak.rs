//! The red banner of an integration whose token was found in a public place.

use maud::{Markup, html};

use super::when;
use crate::domain::integration::Integration;
use crate::domain::leak::Leak;
use crate::http::settings::web::Site;

/// The banner for the newest report of each of the integration's tokens still in use
/// (`leaks`, newest first), and what to do: rotate and expire the token now. Nothing if
/// there is none.
pub(in crate::http::settings) fn banner(
    site: &Site,
    integration: &Integration,
    leaks: &[Leak],
) -> Markup {
    let current = leaks.iter().find(|leak| leak.current);
    let previous = leaks.iter().find(|leak| !leak.current);
    let places = |current: bool| leaks.iter().filter(|l| l.current == current).count();
    let rotate_now = site.url(&format!("/{}/rotate/now", integration.id()));
    html! {
        @if let Some(leak) = current {
            section.pi-notice.pi-notice-error aria-labelledby="pi-leak-title" {
                h2 #pi-leak-title { "This token was found in a public place" }
                p {
                    "Found in a public place on " strong { (when(leak.at)) }
                    @if !leak.url.is_empty() {
                        " at " span.pi-break { (leak.url) }
                    }
                    @if integration.token_revoked_at().is_some() {
                        " — it has been revoked. Rotate and expire this token now to issue a new one."
                    } @else {
                        " — it still works. Rotate and expire this token now, then give the new token to the third party."
                    }
                }
                @if places(true) > 1 {
                    p.pi-small { "Reported in " (places(true)) " places: see the activity log." }
                }
                div.pi-actions {
                    a.pi-button.pi-danger href=(rotate_now) { "Rotate and expire this token now" }
                }
            }
        } @else if let Some(leak) = previous {
            section.pi-notice.pi-notice-error aria-labelledby="pi-leak-title" {
                h2 #pi-leak-title { "The old token was found in a public place" }
                p {
                    "Found in a public place on " strong { (when(leak.at)) }
                    @if !leak.url.is_empty() {
                        " at " span.pi-break { (leak.url) }
                    }
                    @if leak.revoked {
                        " — it has been revoked. The new token keeps working."
                    } @else {
                        " — it still works until the rotation ends. Expire it now if the third party has the new token."
                    }
                }
            }
        }
    }
}
