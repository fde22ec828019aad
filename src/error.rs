//! The errors of management calls, of verification and of storage.
//!
//! No error ever carries a token or its secret: a [`VerifyError`] says *why* a token was
//! refused, never *what* was presented.

use std::error::Error as StdError;

/// What went wrong with a management call ([`PrivateIntegrations`](crate::PrivateIntegrations)
/// `create`, `update`, `rotate`, …).
///
/// A failed call changed nothing, with one exception: a [`Storage`](Error::Storage)
/// error whose acknowledgment was lost after the backend committed (a dropped
/// connection at the worst moment). Its outcome is unknown: reload before retrying.
///
/// # Example
///
/// ```
/// use private_integrations::Error;
///
/// fn status(err: &Error) -> u16 {
///     match err {
///         Error::NotFound => 404,
///         Error::PermissionDenied | Error::FeatureDisabled => 403,
///         Error::InvalidInput(_) | Error::UnknownScope(_) => 422,
///         Error::RotationInProgress | Error::NoRotationInProgress | Error::Conflict => 409,
///         _ => 503,
///     }
/// }
/// assert_eq!(status(&Error::Conflict), 409);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No integration with this id exists in the actor's account. An integration of
    /// another account is reported this way too, so ids cannot be probed across accounts.
    #[error("integration not found in this account")]
    NotFound,
    /// The actor may not do this: managing integrations needs the account's admin role or
    /// an explicit [`Permission::Allow`](crate::Permission::Allow), and an explicit
    /// `Deny` wins over the role. Changing permissions or the feature switch needs the
    /// admin role.
    #[error("permission denied: this user may not manage private integrations")]
    PermissionDenied,
    /// Private Integrations are switched off for this account; an admin can switch them
    /// on with `set_feature_enabled`. Tokens already issued keep verifying.
    #[error("private integrations are disabled for this account")]
    FeatureDisabled,
    /// A value given by the caller breaks a rule (name length, control characters, …).
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),
    /// The scope is not in the service's [`ScopeCatalog`](crate::ScopeCatalog).
    #[error("unknown scope {0:?}: it is not in the service's scope catalog")]
    UnknownScope(String),
    /// A rotation with a grace period is already under way: cancel it or expire the
    /// previous token first, or rotate with `RotationMode::ExpireNow`.
    #[error(
        "a rotation is already in progress: cancel it or expire the previous token first, or rotate with ExpireNow"
    )]
    RotationInProgress,
    /// There is no rotation to cancel or finish: the integration has one token.
    #[error("no rotation is in progress")]
    NoRotationInProgress,
    /// A concurrent change to the same integration won the race; nothing was changed by
    /// this call. Reload and retry.
    #[error("a concurrent change won: reload and retry")]
    Conflict,
    /// The [`IdempotencyKey`](crate::IdempotencyKey) was already used by this user for
    /// another request (another operation, integration or arguments); nothing was
    /// changed. Use a new key for a new request.
    #[error("this idempotency key was already used for another request: use a new key")]
    IdempotencyKeyMismatch,
    /// A call with the same [`IdempotencyKey`](crate::IdempotencyKey) is still under way
    /// in this service; nothing was changed by this one. Retry once it has finished: the
    /// retry gets its outcome.
    #[error("a request with this idempotency key is still in progress: retry later")]
    RequestInProgress,
    /// The operating system's random number generator failed; nothing was changed.
    #[error("the system random number generator failed")]
    Randomness(#[source] rand::rngs::SysError),
    /// The storage backend failed. Usually nothing was changed (the transaction was rolled
    /// back); if the connection dropped while committing, the change may have landed:
    /// reload before retrying.
    #[error("storage failed")]
    Storage(#[source] StorageError),
}

impl From<StorageError> for Error {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::Conflict | StorageError::AlreadyExists => Error::Conflict,
            StorageError::NotFound => Error::NotFound,
            other => Error::Storage(other),
        }
    }
}

/// Why a token was refused, or a scope missing.
///
/// Verification fails closed: anything short of a well-formed, known, unexpired token
/// whose secret matches is an error. `Invalid` covers both an unknown token id and a wrong
/// secret, on purpose, so that nothing tells a prober which ids exist.
///
/// # Example
///
/// ```
/// use private_integrations::VerifyError;
///
/// fn status(err: &VerifyError) -> u16 {
///     match err {
///         VerifyError::InsufficientScope { .. } => 403,
///         VerifyError::Storage(_) => 503,
///         _ => 401,
///     }
/// }
/// assert_eq!(status(&VerifyError::Malformed), 401);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Not a token of this service: wrong length, prefix, alphabet or checksum. Decided
    /// without touching storage.
    #[error("malformed token")]
    Malformed,
    /// Well-formed, but no live token matches: an unknown id, a wrong secret, a revoked
    /// token or a deleted integration.
    #[error("invalid token")]
    Invalid,
    /// The token was the previous one of a rotation whose grace period has ended.
    #[error("expired token")]
    Expired,
    /// The token is valid but its integration lacks the scope.
    #[error("insufficient scope: {required:?} is required")]
    InsufficientScope {
        /// The scope that was required.
        required: String,
    },
    /// The storage backend failed, so the token is refused (fail closed).
    #[error("storage failed; token refused")]
    Storage(#[source] StorageError),
}

/// A value that breaks an input rule. Carried by [`Error::InvalidInput`].
///
/// Messages name the field and the rule, never the rejected value.
///
/// # Example
///
/// ```
/// use private_integrations::InvalidInput;
///
/// let err = InvalidInput::TooLong { field: "name", max: 100 };
/// assert_eq!(err.to_string(), "name is longer than 100 characters");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidInput {
    /// The field is empty (or only white space, where it is trimmed).
    #[error("{field} must not be empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// The field is longer than allowed.
    #[error("{field} is longer than {max} characters")]
    TooLong {
        /// The field.
        field: &'static str,
        /// The limit, in characters (bytes for ids).
        max: usize,
    },
    /// The field holds a control character.
    #[error("{field} must not contain control characters")]
    ControlCharacter {
        /// The field.
        field: &'static str,
    },
    /// The field does not have the required shape.
    #[error("{field} is malformed")]
    Malformed {
        /// The field.
        field: &'static str,
    },
    /// An integration needs at least one scope.
    #[error("at least one scope is required")]
    NoScopes,
    /// A scope catalog names the same scope twice.
    #[error("the scope catalog names {0:?} twice")]
    DuplicateScope(String),
    /// A scope catalog holds more scopes than a [`ScopeSet`](crate::ScopeSet) can.
    #[error("a scope catalog holds at most {max} scopes")]
    TooManyScopes {
        /// The limit.
        max: usize,
    },
    /// An update that changes nothing.
    #[error("the update changes nothing: set a name, a description or scopes")]
    EmptyUpdate,
    /// The field holds what is an access token (its checksum is right): tokens are
    /// secrets, and the field is not (it is stored and shown as it is).
    #[error("{field} holds an access token: tokens are secrets, never paste one there")]
    HoldsToken {
        /// The field.
        field: &'static str,
    },
    /// A parameter given more than once where one is taken (in a query string, say).
    #[error("{field} is given more than once")]
    Repeated {
        /// The field.
        field: &'static str,
    },
    /// A number outside the range allowed (a page size, say).
    #[error("{field} must be between {min} and {max}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The smallest value allowed.
        min: usize,
        /// The largest value allowed.
        max: usize,
    },
}

/// What a [`Storage`](crate::Storage) backend reports.
///
/// The first three variants are part of the storage contract: every backend must return
/// the same one for the same situation (the conformance suite checks it).
///
/// # Example
///
/// ```
/// use private_integrations::{Error, StorageError};
///
/// assert!(matches!(Error::from(StorageError::Conflict), Error::Conflict));
/// let down = StorageError::backend(std::io::Error::other("connection refused"));
/// assert!(matches!(Error::from(down), Error::Storage(_)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A compare-and-swap write found a different version than expected: another writer
    /// changed the record first. Nothing was written.
    #[error("version conflict: the record changed since it was read")]
    Conflict,
    /// A create found the integration id or a token id already stored. Nothing was
    /// written; a create never overwrites.
    #[error("the record already exists")]
    AlreadyExists,
    /// An update or delete found no record with this id in this account.
    #[error("no such record")]
    NotFound,
    /// The backend itself failed (connection lost, disk full, …).
    #[error("storage backend error")]
    Backend(#[source] Box<dyn StdError + Send + Sync + 'static>),
}

impl StorageError {
    /// Wraps a backend's own error.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::StorageError;
    /// let err = StorageError::backend(std::io::Error::other("disk full"));
    /// assert_eq!(err.to_string(), "storage backend error");
    /// ```
    pub fn backend(err: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        StorageError::Backend(err.into())
    }

    /// This error and its causes, on one line ("a: b: c"), for a log line or a message
    /// that must stand alone.
    pub(crate) fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut cause = StdError::source(self);
        while let Some(err) = cause {
            text.push_str(": ");
            text.push_str(&err.to_string());
            cause = err.source();
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messages are part of the interface (logs, HTTP bodies): pin them.
    #[test]
    fn display_strings() {
        let cases: Vec<(Box<dyn StdError>, &str)> = vec![
            (
                Box::new(Error::NotFound),
                "integration not found in this account",
            ),
            (
                Box::new(Error::PermissionDenied),
                "permission denied: this user may not manage private integrations",
            ),
            (
                Box::new(Error::FeatureDisabled),
                "private integrations are disabled for this account",
            ),
            (
                Box::new(Error::InvalidInput(InvalidInput::Empty { field: "name" })),
                "invalid input: name must not be empty",
            ),
            (
                Box::new(Error::UnknownScope("billing.write".into())),
                "unknown scope \"billing.write\": it is not in the service's scope catalog",
            ),
            (
                Box::new(Error::RotationInProgress),
                "a rotation is already in progress: cancel it or expire the previous token first, or rotate with ExpireNow",
            ),
            (
                Box::new(Error::NoRotationInProgress),
                "no rotation is in progress",
            ),
            (
                Box::new(Error::Conflict),
                "a concurrent change won: reload and retry",
            ),
            (
                Box::new(Error::Storage(StorageError::Conflict)),
                "storage failed",
            ),
            (Box::new(VerifyError::Malformed), "malformed token"),
            (Box::new(VerifyError::Invalid), "invalid token"),
            (Box::new(VerifyError::Expired), "expired token"),
            (
                Box::new(VerifyError::InsufficientScope {
                    required: "contacts.write".into(),
                }),
                "insufficient scope: \"contacts.write\" is required",
            ),
            (
                Box::new(VerifyError::Storage(StorageError::NotFound)),
                "storage failed; token refused",
            ),
            (
                Box::new(InvalidInput::TooLong {
                    field: "description",
                    max: 1000,
                }),
                "description is longer than 1000 characters",
            ),
            (
                Box::new(InvalidInput::ControlCharacter { field: "name" }),
                "name must not contain control characters",
            ),
            (
                Box::new(InvalidInput::Malformed {
                    field: "token prefix",
                }),
                "token prefix is malformed",
            ),
            (
                Box::new(InvalidInput::NoScopes),
                "at least one scope is required",
            ),
            (
                Box::new(InvalidInput::DuplicateScope("a.b".into())),
                "the scope catalog names \"a.b\" twice",
            ),
            (
                Box::new(InvalidInput::TooManyScopes { max: 256 }),
                "a scope catalog holds at most 256 scopes",
            ),
            (
                Box::new(InvalidInput::EmptyUpdate),
                "the update changes nothing: set a name, a description or scopes",
            ),
            (
                Box::new(InvalidInput::HoldsToken { field: "name" }),
                "name holds an access token: tokens are secrets, never paste one there",
            ),
            (
                Box::new(InvalidInput::Repeated { field: "limit" }),
                "limit is given more than once",
            ),
            (
                Box::new(InvalidInput::OutOfRange {
                    field: "page size",
                    min: 1,
                    max: 200,
                }),
                "page size must be between 1 and 200",
            ),
            (
                Box::new(StorageError::Conflict),
                "version conflict: the record changed since it was read",
            ),
            (
                Box::new(StorageError::AlreadyExists),
                "the record already exists",
            ),
            (Box::new(StorageError::NotFound), "no such record"),
            (
                Box::new(StorageError::backend("boom")),
                "storage backend error",
            ),
        ];
        for (err, expected) in cases {
            assert_eq!(err.to_string(), expected);
        }
    }

    #[test]
    fn sources_are_kept() {
        let err = Error::Storage(StorageError::backend(std::io::Error::other(
            "connection refused",
        )));
        let backend = err.source().unwrap();
        assert_eq!(backend.to_string(), "storage backend error");
        assert_eq!(backend.source().unwrap().to_string(), "connection refused");
    }

    #[test]
    fn storage_errors_map_to_service_errors() {
        assert!(matches!(
            Error::from(StorageError::Conflict),
            Error::Conflict
        ));
        assert!(matches!(
            Error::from(StorageError::AlreadyExists),
            Error::Conflict
        ));
        assert!(matches!(
            Error::from(StorageError::NotFound),
            Error::NotFound
        ));
        assert!(matches!(
            Error::from(StorageError::backend("x")),
            Error::Storage(_)
        ));
    }
}
