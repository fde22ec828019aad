//! The service's refusals as people read them: a status and a sentence for the page, and
//! the form field it is about, if any.

use std::borrow::Cow;

use axum::http::StatusCode;

use crate::error::{Error, InvalidInput};

/// A refusal of the service, for the page.
#[derive(Debug, Clone)]
pub(super) struct Refusal {
    pub(super) status: StatusCode,
    pub(super) message: Cow<'static, str>,
    /// The form field at fault: `"name"`, `"description"` or `"scopes"`.
    pub(super) field: Option<&'static str>,
}

impl Refusal {
    pub(super) fn new(status: StatusCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            field: None,
        }
    }

    fn on(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    /// The message of a field, for its `aria-describedby`.
    pub(super) fn about(&self, field: &str) -> Option<&str> {
        (self.field == Some(field)).then_some(&*self.message)
    }
}

/// What the page says when the actor may not manage Private Integrations.
pub(super) const NO_PERMISSION: &str = "You don't have permission to manage Private \
Integrations. An account admin can allow it for you in Team permissions.";

/// What the page says when the feature is switched off.
pub(super) const SWITCHED_OFF: &str = "Private Integrations are switched off for this \
account. An account admin can switch them on in Labs.";

/// What the page says when a link to a page of a list is broken (a cursor cut short, or
/// of another list).
pub(super) const BROKEN_PAGE_LINK: &str = "This link to a page of the list is not valid: it \
may have been cut short. Start again from the first page.";

/// What the page says when a form sent a scope outside the catalog (never which).
pub(super) const UNKNOWN_SCOPE: &str = "A scope sent with this form is not in this \
service's scope catalog, so nothing was saved. Select scopes from the list.";

/// What the page says when another change won the race.
pub(super) const CHANGED_SINCE: &str = "Someone changed this Private Integration since you \
opened this page, so nothing was saved. Your changes are still in the form below.";

impl From<&Error> for Refusal {
    fn from(err: &Error) -> Self {
        use StatusCode as S;
        match err {
            Error::NotFound => Refusal::new(
                S::NOT_FOUND,
                "This Private Integration does not exist in this account. It may have been \
                 deleted.",
            ),
            Error::PermissionDenied => Refusal::new(S::FORBIDDEN, NO_PERMISSION),
            Error::FeatureDisabled => Refusal::new(S::FORBIDDEN, SWITCHED_OFF),
            Error::InvalidInput(invalid) => invalid_input(invalid),
            // The value is not shown back: it is not a scope, so it may be anything the
            // browser was made to send, a pasted token included.
            Error::UnknownScope(_) => {
                Refusal::new(S::UNPROCESSABLE_ENTITY, UNKNOWN_SCOPE).on("scopes")
            }
            Error::RotationInProgress => Refusal::new(
                S::CONFLICT,
                "A rotation is already in progress for this token. Cancel the rotation or \
                 expire the old token first, or rotate and expire this token now.",
            ),
            Error::NoRotationInProgress => Refusal::new(
                S::CONFLICT,
                "There is no rotation in progress: it has ended or was cancelled already.",
            ),
            Error::Conflict => Refusal::new(S::CONFLICT, CHANGED_SINCE),
            Error::IdempotencyKeyMismatch => Refusal::new(
                S::UNPROCESSABLE_ENTITY,
                "This form was already sent with other values, so nothing was done. Reload \
                 the page and fill in the form again.",
            ),
            Error::RequestInProgress => Refusal::new(
                S::CONFLICT,
                "This form is being sent already: wait a moment, then reload the page to see \
                 what was done.",
            ),
            Error::Storage(_) => Refusal::new(
                S::SERVICE_UNAVAILABLE,
                "The integrations store is unavailable right now. Nothing was changed, unless \
                 the connection dropped while saving: reload the page before trying again.",
            ),
            _ => Refusal::new(
                S::INTERNAL_SERVER_ERROR,
                "Something went wrong and nothing was changed. Reload the page before trying \
                 again.",
            ),
        }
    }
}

/// The form field whose value held a token, if that is the refusal: the page empties it
/// rather than show the token back.
pub(super) fn holds_token(err: &Error) -> Option<&'static str> {
    match err {
        Error::InvalidInput(InvalidInput::HoldsToken { field }) => Some(field),
        _ => None,
    }
}

/// A broken input rule, as a sentence about the field.
fn invalid_input(invalid: &InvalidInput) -> Refusal {
    let refusal = |message: String| Refusal::new(StatusCode::UNPROCESSABLE_ENTITY, message);
    let field = |field: &'static str| match field {
        "name" => Some(("name", "The name")),
        "description" => Some(("description", "The description")),
        _ => None,
    };
    match invalid {
        InvalidInput::NoScopes => refusal("Select at least one scope.".to_owned()).on("scopes"),
        InvalidInput::Empty { field: f } => match field(f) {
            Some((key, label)) => refusal(format!("{label} must not be empty.")).on(key),
            None => refusal(sentence(invalid)),
        },
        InvalidInput::TooLong { field: f, max } => match field(f) {
            Some((key, label)) => {
                refusal(format!("{label} is longer than {max} characters.")).on(key)
            }
            None => refusal(sentence(invalid)),
        },
        InvalidInput::HoldsToken { field: f } => {
            let label = field(f).map_or("The user id", |(_, label)| label);
            let refusal = refusal(format!(
                "{label} held an access token, so it was cleared. Tokens are secrets: never \
                 paste one here."
            ));
            match field(f) {
                Some((key, _)) => refusal.on(key),
                None => refusal,
            }
        }
        InvalidInput::Malformed { field: "cursor" } | InvalidInput::OutOfRange { .. } => {
            Refusal::new(StatusCode::BAD_REQUEST, BROKEN_PAGE_LINK)
        }
        InvalidInput::ControlCharacter { field: f } | InvalidInput::Malformed { field: f } => {
            match field(f) {
                Some((key, label)) => refusal(format!(
                    "{label} contains characters that are not allowed (control or \
                     direction-changing characters)."
                ))
                .on(key),
                None => refusal(sentence(invalid)),
            }
        }
        _ => refusal(sentence(invalid)),
    }
}

/// An error's message as a sentence: capital first letter, final full stop.
fn sentence(err: &dyn std::fmt::Display) -> String {
    let text = err.to_string();
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_read_as_sentences_about_their_field() {
        let name = Refusal::from(&Error::InvalidInput(InvalidInput::Empty { field: "name" }));
        assert_eq!(name.message, "The name must not be empty.");
        assert_eq!(name.field, Some("name"));
        assert_eq!(name.status, StatusCode::UNPROCESSABLE_ENTITY);
        let scopes = Refusal::from(&Error::InvalidInput(InvalidInput::NoScopes));
        assert_eq!(scopes.about("scopes"), Some("Select at least one scope."));
        assert_eq!(scopes.about("name"), None);
        let long = Refusal::from(&Error::InvalidInput(InvalidInput::TooLong {
            field: "description",
            max: 1000,
        }));
        assert_eq!(
            long.message,
            "The description is longer than 1000 characters."
        );
        let user = Refusal::from(&Error::InvalidInput(InvalidInput::Empty {
            field: "user id",
        }));
        assert_eq!(user.message, "User id must not be empty.");
        assert_eq!(Refusal::from(&Error::Conflict).status, StatusCode::CONFLICT);
        let unknown = Refusal::from(&Error::UnknownScope("pit_secret_value".into()));
        assert_eq!(
            (unknown.status, &*unknown.message, unknown.field),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                UNKNOWN_SCOPE,
                Some("scopes")
            )
        );
        let token = Refusal::from(&Error::InvalidInput(InvalidInput::HoldsToken {
            field: "description",
        }));
        assert_eq!(
            token.message,
            "The description held an access token, so it was cleared. Tokens are secrets: \
             never paste one here."
        );
        assert_eq!(token.field, Some("description"));
        let cursor = Refusal::from(&Error::InvalidInput(InvalidInput::Malformed {
            field: "cursor",
        }));
        assert_eq!(
            (cursor.status, &*cursor.message),
            (StatusCode::BAD_REQUEST, BROKEN_PAGE_LINK)
        );
        let storage = Refusal::from(&Error::Storage(crate::StorageError::backend(
            "db.internal:5432 refused",
        )));
        assert!(!storage.message.contains("db.internal"));
    }
}
