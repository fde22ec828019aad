//! `GET /{id}/rotate/{later,now}`: the warning; `POST`: "Continue", then the new token.
//! During a rotation, "later" cannot be done: its page says so and offers "Cancel
//! rotation" and "Expire now" instead of "Continue".

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::Response;

use super::refusal::Refusal;
use super::views::{rotate, token};
use super::web::{Ctx, Form, already_done, html, integration_id, once_key, refused};
use crate::domain::credentials::RotationMode;
use crate::domain::idempotency::Outcome;
use crate::error::Error;

const TITLE: &str = "Rotate token";

fn mode(segment: &str) -> Result<RotationMode, Error> {
    match segment {
        "later" => Ok(RotationMode::ExpireLater),
        "now" => Ok(RotationMode::ExpireNow),
        _ => Err(Error::NotFound),
    }
}

pub(super) async fn warn<A>(ctx: Ctx<A>, Path((id, segment)): Path<(String, String)>) -> Response {
    warning(&ctx, &id, &segment, None).await
}

pub(super) async fn confirm<A>(
    ctx: Ctx<A>,
    Path((id, segment)): Path<(String, String)>,
    Form(form): Form,
) -> Response {
    let rotated = match (integration_id(&id), mode(&segment)) {
        (Ok(parsed), Ok(mode)) => match once_key(&form) {
            Some(key) => ctx.pi().once(&ctx.actor, &key).rotate(&parsed, mode).await,
            None => ctx
                .pi()
                .rotate(&ctx.actor, &parsed, mode)
                .await
                .map(Outcome::Done),
        }
        .map(|r| (r, mode)),
        (Err(err), _) | (_, Err(err)) => Err(err),
    };
    match rotated {
        Ok((Outcome::AlreadyDone(first), _)) => already_done(&ctx.site, &first),
        // The new token, in this response only: no redirect, no URL holds it.
        Ok((Outcome::Done(rotated), mode)) => html(
            StatusCode::OK,
            token::render(
                &ctx.site,
                &rotated.integration,
                &rotated.token,
                token::Issued::Rotated(mode),
            ),
        ),
        Err(err) => warning(&ctx, &id, &segment, Some(&Refusal::from(&err))).await,
    }
}

/// The warning step, with a refusal if "Continue" was refused.
async fn warning<A>(ctx: &Ctx<A>, id: &str, segment: &str, refusal: Option<&Refusal>) -> Response {
    let found = match (integration_id(id), mode(segment)) {
        (Ok(id), Ok(mode)) => ctx.pi().get(&ctx.actor, &id).await.map(|i| (i, mode)),
        (Err(err), _) | (_, Err(err)) => Err(err),
    };
    match found {
        Ok((integration, mode)) => {
            // "Rotate and expire this token later" cannot be done during a rotation: the
            // page says so, with "Cancel rotation" and "Expire now" (and no "Continue").
            let status = refusal.map_or(StatusCode::OK, |r| r.status);
            html(
                status,
                rotate::render(&ctx.site, &integration, mode, refusal),
            )
        }
        Err(err) => refused(&ctx.site, TITLE, &err),
    }
}
