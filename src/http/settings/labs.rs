//! `GET /labs`, `POST /labs` (admins): the feature switch.

use axum::http::StatusCode;
use axum::response::Response;

use super::refusal::Refusal;
use super::views::labs::render;
use super::web::{
    Ctx, Form, Query, already_done, done, html, once_key, refused, refused_with, see_other,
};
use crate::domain::idempotency::Outcome;
use crate::error::Error;

const TITLE: &str = "Labs";
const ADMINS_ONLY: &str = "Only account admins can switch features in Labs.";
/// A denied admin: a deny means no, for the feature switch too.
const DENIED: &str = "Your permission to manage Private Integrations is set to Deny, so you \
    cannot switch features in Labs. Another account admin can change it.";

/// The refusal of a call the service denied: not an admin, or an admin who is denied.
fn not_allowed<A>(ctx: &Ctx<A>) -> Response {
    let message = if ctx.actor.is_admin() {
        DENIED
    } else {
        ADMINS_ONLY
    };
    refused_with(&ctx.site, TITLE, StatusCode::FORBIDDEN, message)
}

pub(super) async fn show<A>(ctx: Ctx<A>, Query(query): Query) -> Response {
    page(&ctx, done(&query), None).await
}

pub(super) async fn save<A>(ctx: Ctx<A>, Form(form): Form) -> Response {
    let enabled = match form.get("enabled") {
        "true" => true,
        "false" => false,
        _ => {
            let refusal = Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose to switch on or off.",
            );
            return page(&ctx, None, Some(&refusal)).await;
        }
    };
    let switched = match once_key(&form) {
        Some(key) => {
            ctx.pi()
                .once(&ctx.actor, &key)
                .set_feature_enabled(enabled)
                .await
        }
        None => ctx
            .pi()
            .set_feature_enabled(&ctx.actor, enabled)
            .await
            .map(Outcome::Done),
    };
    match switched {
        Ok(Outcome::AlreadyDone(first)) => already_done(&ctx.site, &first),
        Ok(Outcome::Done(())) => see_other(ctx.site.url(if enabled {
            "/labs?done=on"
        } else {
            "/labs?done=off"
        })),
        Err(Error::PermissionDenied) => not_allowed(&ctx),
        Err(err) => page(&ctx, None, Some(&Refusal::from(&err))).await,
    }
}

async fn page<A>(ctx: &Ctx<A>, done: Option<&'static str>, refusal: Option<&Refusal>) -> Response {
    match ctx.pi().feature_enabled(&ctx.actor).await {
        Ok(enabled) => {
            let status = refusal.map_or(StatusCode::OK, |r| r.status);
            html(status, render(&ctx.site, enabled, done, refusal))
        }
        Err(Error::PermissionDenied) => not_allowed(ctx),
        Err(err) => refused(&ctx.site, TITLE, &err),
    }
}
