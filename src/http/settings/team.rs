//! `GET /team`, `POST /team` (admins): each user's Private Integrations permission.

use axum::http::StatusCode;
use axum::response::Response;

use super::refusal::Refusal;
use super::views::team::{TeamRow, TeamView, parse_permission, render};
use super::web::{
    Ctx, Form, Query, already_done, done, html, once_key, refused, refused_with, see_other,
};
use crate::domain::idempotency::Outcome;
use crate::domain::ids::UserId;
use crate::domain::integration::holds_token;
use crate::error::{Error, InvalidInput};

const TITLE: &str = "Team permissions";
const ADMINS_ONLY: &str = "Only account admins can change team permissions.";

pub(super) async fn show<A>(ctx: Ctx<A>, Query(query): Query) -> Response {
    if !ctx.actor.is_admin() {
        return refused_with(&ctx.site, TITLE, StatusCode::FORBIDDEN, ADMINS_ONLY);
    }
    page(&ctx, query.get("user"), done(&query), None).await
}

pub(super) async fn save<A>(ctx: Ctx<A>, Form(form): Form) -> Response {
    let lookup = form.get("lookup");
    // With a team directory, only its users have a permission to set.
    if !ctx.actor.is_admin() {
        return refused_with(&ctx.site, TITLE, StatusCode::FORBIDDEN, ADMINS_ONLY);
    }
    // A well-formed id first (one that holds a token is refused as such), then, with a
    // team directory, only its users have a permission to set.
    if user_id(form.get("user")).is_ok()
        && let Some(refusal) = not_in_team(&ctx, form.get("user")).await
    {
        return page(&ctx, "", None, Some(&refusal)).await;
    }
    let saved = match (
        user_id(form.get("user")),
        parse_permission(form.get("permission")),
    ) {
        (Ok(user), Some(permission)) => match once_key(&form) {
            Some(key) => {
                let once = ctx.pi().once(&ctx.actor, &key);
                once.set_permission(&user, permission).await
            }
            None => ctx
                .pi()
                .set_permission(&ctx.actor, &user, permission)
                .await
                .map(Outcome::Done),
        },
        (Err(invalid @ InvalidInput::HoldsToken { .. }), _) => {
            // Not shown back, not even as the user looked up.
            let refusal = Refusal::from(&Error::InvalidInput(invalid));
            return page(&ctx, "", None, Some(&refusal)).await;
        }
        (Err(invalid), _) => Err(Error::InvalidInput(invalid)),
        (_, None) => {
            let refusal = Refusal::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Choose Allow, Deny or Role default.",
            );
            return page(&ctx, lookup, None, Some(&refusal)).await;
        }
    };
    match saved {
        Ok(Outcome::AlreadyDone(first)) => already_done(&ctx.site, &first),
        Ok(Outcome::Done(())) => {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("done", "saved");
            // Back to the user looked up: the one just saved (checked above), never the
            // `lookup` field as sent, which nothing checked.
            if !lookup.is_empty() {
                query.append_pair("user", form.get("user"));
            }
            see_other(ctx.site.url(&format!("/team?{}", query.finish())))
        }
        Err(Error::PermissionDenied) if ctx.actor.is_admin() => {
            let refusal = Refusal::new(
                StatusCode::FORBIDDEN,
                "You cannot change your own permission: another account admin can.",
            );
            page(&ctx, lookup, None, Some(&refusal)).await
        }
        Err(err) => page(&ctx, lookup, None, Some(&Refusal::from(&err))).await,
    }
}

/// Why `user` may not be given a permission here, if the host's team directory does not
/// list them (or cannot be read): a permission for someone who is not in the team is
/// refused, and the id is not shown back. `None` without a directory.
async fn not_in_team<A>(ctx: &Ctx<A>, user: &str) -> Option<Refusal> {
    let directory = ctx.site.config.team.as_ref()?;
    match directory.members(ctx.actor.account()).await {
        Ok(members) if members.iter().any(|m| m.user().as_str() == user) => None,
        Ok(_) => Some(Refusal::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "This user is not in your team: choose someone from the list.",
        )),
        Err(_) => Some(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The team could not be loaded, so nothing was saved. Reload the page to try again.",
        )),
    }
}

/// A user id as typed: a host's id, and no token (a user id is stored in the audit log
/// and shown as it is, as the admin API holds it too).
fn user_id(typed: &str) -> Result<UserId, InvalidInput> {
    if holds_token(typed) {
        return Err(InvalidInput::HoldsToken { field: "user id" });
    }
    UserId::try_new(typed)
}

/// The team (from the host's directory), or the user looked up by id.
async fn page<A>(
    ctx: &Ctx<A>,
    lookup: &str,
    done: Option<&'static str>,
    refusal: Option<&Refusal>,
) -> Response {
    let (pi, actor) = (ctx.pi(), &ctx.actor);
    let mut rows = Vec::new();
    let mut problem = refusal.cloned();
    // A user id that is not one (a pasted token, too long, control characters) is
    // refused and not shown back, not even in the lookup field.
    let looked_up = match user_id(lookup) {
        Ok(user) => Some(user),
        Err(_) if lookup.is_empty() => None,
        Err(invalid) => {
            problem.get_or_insert(Refusal::from(&Error::InvalidInput(invalid)));
            None
        }
    };
    if let Some(directory) = &ctx.site.config.team {
        match directory.members(actor.account()).await {
            Ok(members) => {
                for member in members {
                    rows.push(TeamRow {
                        user: member.user().clone(),
                        name: Some(member.name().to_owned()),
                        role: Some(member.role()),
                        permission: Default::default(),
                        is_self: member.user() == actor.user(),
                    });
                }
            }
            Err(_) => {
                problem.get_or_insert(Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The team could not be loaded. Reload the page to try again.",
                ));
            }
        }
    } else if let Some(user) = &looked_up {
        rows.push(TeamRow {
            is_self: user == actor.user(),
            user: user.clone(),
            name: None,
            role: None,
            permission: Default::default(),
        });
    }
    for row in &mut rows {
        match pi.permission(actor, &row.user).await {
            Ok(permission) => row.permission = permission,
            Err(err) => return refused(&ctx.site, TITLE, &err),
        }
    }
    let view = TeamView {
        rows: &rows,
        directory: ctx.site.config.team.is_some(),
        lookup: looked_up.as_ref().map_or("", UserId::as_str),
        done,
        refusal: problem.as_ref(),
    };
    let status = problem.as_ref().map_or(StatusCode::OK, |r| r.status);
    html(status, render(&ctx.site, &view))
}
