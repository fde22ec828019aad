//! The credentials state machine of an integration (pure: no I/O, no clock of its own).
//!
//! | from \ action | rotate(ExpireLater) | rotate(ExpireNow) | cancel_rotation | expire_previous_now |
//! |---|---|---|---|---|
//! | `Active` | `Rotating(new, old, now + grace)` | `Active(new)` | `NoRotationInProgress` | `NoRotationInProgress` |
//! | `Rotating` | `RotationInProgress` | `Active(new)`; both old tokens dead | `Active(previous)` | `Active(current)` |
//! | `Revoked` | `Active(new)` | `Active(new)` | `NoRotationInProgress` | `NoRotationInProgress` |
//!
//! A `Rotating` whose window has passed (`now >= previous_expires_at`) is `Active(current)`
//! for every purpose: every transition first [settles](Credentials::settle) the state with
//! the caller's `now`. Nothing needs a background job.
//!
//! A rotation may also finish itself, opt-in, once the new token was used and the old
//! one fell silent: that rule reads when the tokens were last used, which the record
//! holds beside its credentials, so it is the record's
//! ([`IntegrationRecord::finish_when_silent`](super::integration::IntegrationRecord::finish_when_silent));
//! it gives what `expire_previous_now` gives.
//!
//! A token found in a public place is [revoked](Credentials::revoke_leaked): a leaked
//! previous token of a rotation expires now (the new token lives on); a leaked current
//! token makes the state `Revoked`, in which nothing verifies until a rotation issues a
//! new token. Revoking a token that is not live changes nothing.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use super::ids::TokenId;
use super::token::TokenHash;
use crate::error::Error;

/// When a leaked previous token of a rotation expires
/// ([`Credentials::revoke_leaked`]): the Unix epoch, before any token was issued, so
/// that every replica, whatever its clock, settles it away.
pub const LEAKED_PREVIOUS_EXPIRES_AT: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

/// The last representable instant.
const END_OF_TIME: OffsetDateTime = OffsetDateTime::new_utc(time::Date::MAX, time::Time::MAX);

/// One token as storage knows it: its id, the hash of its secret, and when it was issued.
///
/// # Example
///
/// ```
/// # use private_integrations::{TokenHash, TokenId};
/// # use time::{Duration, macros::datetime};
/// use private_integrations::domain::credentials::*;
/// let t0 = datetime!(2026-01-01 0:00 UTC);
/// let token = |id: &str| TokenCredential {
///     id: TokenId::parse(id).unwrap(),
///     hash: TokenHash::from_bytes([0; 32]),
///     issued_at: t0,
/// };
/// let credential = token("AbCdEfGh12345678");
/// assert_eq!(credential.id.as_str(), "AbCdEfGh12345678");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct TokenCredential {
    /// The public token id.
    pub id: TokenId,
    /// `SHA-256` of the secret.
    pub hash: TokenHash,
    /// When the token was issued.
    pub issued_at: OffsetDateTime,
}

/// How a rotation treats the token it replaces.
///
/// # Example
///
/// ```
/// use private_integrations::RotationMode;
/// let mode: RotationMode = serde_json::from_str(r#""expire_later""#).unwrap();
/// assert_eq!(mode, RotationMode::ExpireLater);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RotationMode {
    /// "Rotate and expire this token later": the old token keeps working for the grace
    /// period (7 days by default), so the third party can switch without downtime.
    ExpireLater,
    /// "Rotate and expire this token now": every older token stops working at once. For
    /// a leaked token. Allowed in any state.
    ExpireNow,
}

/// The credentials of an integration: one live token, or two during a rotation.
///
/// # Example
///
/// ```
/// # use private_integrations::{TokenHash, TokenId};
/// # use time::{Duration, macros::datetime};
/// use private_integrations::domain::credentials::*;
/// let t0 = datetime!(2026-01-01 0:00 UTC);
/// let token = |id: &str| TokenCredential {
///     id: TokenId::parse(id).unwrap(),
///     hash: TokenHash::from_bytes([0; 32]),
///     issued_at: t0,
/// };
/// let active = Credentials::new(token("OldOldOldOldOld1"));
/// assert!(active.previous().is_none());
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Credentials {
    /// One token.
    Active {
        /// The token.
        current: TokenCredential,
    },
    /// A rotation with a grace period: `previous` verifies while
    /// `now < previous_expires_at`.
    Rotating {
        /// The new token.
        current: TokenCredential,
        /// The token being replaced.
        previous: TokenCredential,
        /// When `previous` stops verifying.
        previous_expires_at: OffsetDateTime,
    },
    /// The current token was found in a public place and revoked: no token verifies
    /// until a rotation (of either mode) issues a new one. The revoked token is kept, so
    /// that a repeated report of it is recognised as the same leak.
    Revoked {
        /// The revoked token.
        current: TokenCredential,
        /// When it was revoked.
        revoked_at: OffsetDateTime,
    },
}

/// A lifecycle action on credentials, with everything it needs: a transition is a pure
/// function of (state, action, now).
///
/// # Example
///
/// ```
/// # use private_integrations::{TokenHash, TokenId};
/// # use time::{Duration, macros::datetime};
/// use private_integrations::domain::credentials::*;
/// let t0 = datetime!(2026-01-01 0:00 UTC);
/// let token = |id: &str| TokenCredential {
///     id: TokenId::parse(id).unwrap(),
///     hash: TokenHash::from_bytes([0; 32]),
///     issued_at: t0,
/// };
/// let rotate = Transition::Rotate {
///     mode: private_integrations::RotationMode::ExpireLater,
///     new: token("NewNewNewNewNew1"),
///     grace: Duration::days(7),
/// };
/// let rotating = Credentials::new(token("OldOldOldOldOld1")).apply(rotate, t0).unwrap();
/// assert_eq!(rotating.previous().unwrap().1, t0 + Duration::days(7));
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Transition {
    /// Issue `new` as the current token.
    Rotate {
        /// How the replaced token is treated.
        mode: RotationMode,
        /// The freshly issued token.
        new: TokenCredential,
        /// How long the replaced token keeps working with [`RotationMode::ExpireLater`].
        grace: Duration,
    },
    /// Cancel a rotation: the new token dies, the previous one lives on without expiry.
    CancelRotation,
    /// Finish a rotation early: the previous token dies now.
    ExpirePreviousNow,
}

/// Which of an integration's tokens a token id names.
///
/// # Example
///
/// ```
/// # use private_integrations::{TokenHash, TokenId};
/// # use time::{Duration, macros::datetime};
/// use private_integrations::domain::credentials::*;
/// let t0 = datetime!(2026-01-01 0:00 UTC);
/// let token = |id: &str| TokenCredential {
///     id: TokenId::parse(id).unwrap(),
///     hash: TokenHash::from_bytes([0; 32]),
///     issued_at: t0,
/// };
/// let active = Credentials::new(token("OldOldOldOldOld1"));
/// let (_, role) = active.find(&TokenId::parse("OldOldOldOldOld1").unwrap()).unwrap();
/// assert_eq!(role, TokenRole::Current);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRole {
    /// The current token.
    Current,
    /// The previous token of a rotation, working until the given instant (exclusive).
    Previous {
        /// When it stops working.
        expires_at: OffsetDateTime,
    },
    /// The current token of [`Credentials::Revoked`]: it verifies nothing.
    Revoked,
}

impl Credentials {
    /// Credentials with a single, freshly issued token.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use time::{Duration, macros::datetime};
    /// use private_integrations::domain::credentials::*;
    /// let t0 = datetime!(2026-01-01 0:00 UTC);
    /// let token = |id: &str| TokenCredential {
    ///     id: TokenId::parse(id).unwrap(),
    ///     hash: TokenHash::from_bytes([0; 32]),
    ///     issued_at: t0,
    /// };
    /// let active = Credentials::new(token("OldOldOldOldOld1"));
    /// assert_eq!(active.current().id.as_str(), "OldOldOldOldOld1");
    /// ```
    pub fn new(current: TokenCredential) -> Self {
        Credentials::Active { current }
    }

    /// The state as of `now`: a rotation whose grace period has ended is `Active`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::domain::credentials::Credentials;
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use private_integrations::domain::credentials::TokenCredential;
    /// # use time::{Duration, OffsetDateTime};
    /// # let t0 = OffsetDateTime::UNIX_EPOCH;
    /// # let cred = |id: &str| TokenCredential { id: TokenId::parse(id).unwrap(), hash: TokenHash::from_bytes([0; 32]), issued_at: t0 };
    /// let state = Credentials::Rotating {
    ///     current: cred("NewNewNewNewNew1"),
    ///     previous: cred("OldOldOldOldOld1"),
    ///     previous_expires_at: t0 + Duration::days(7),
    /// };
    /// assert!(state.settle(t0 + Duration::days(7) - Duration::SECOND).previous().is_some());
    /// assert!(state.settle(t0 + Duration::days(7)).previous().is_none());
    /// ```
    pub fn settle(self, now: OffsetDateTime) -> Self {
        match self {
            Credentials::Rotating {
                current,
                previous_expires_at,
                ..
            } if now >= previous_expires_at => Credentials::Active { current },
            other => other,
        }
    }

    /// Applies a lifecycle action at `now`.
    ///
    /// # Errors
    ///
    /// [`Error::RotationInProgress`] for a rotation with grace while one is under way;
    /// [`Error::NoRotationInProgress`] to cancel or finish a rotation that is not.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use time::{Duration, macros::datetime};
    /// use private_integrations::domain::credentials::*;
    /// let t0 = datetime!(2026-01-01 0:00 UTC);
    /// let token = |id: &str| TokenCredential {
    ///     id: TokenId::parse(id).unwrap(),
    ///     hash: TokenHash::from_bytes([0; 32]),
    ///     issued_at: t0,
    /// };
    /// let active = Credentials::new(token("OldOldOldOldOld1"));
    /// assert!(matches!(
    ///     active.apply(Transition::CancelRotation, t0),
    ///     Err(private_integrations::Error::NoRotationInProgress)
    /// ));
    /// ```
    pub fn apply(self, transition: Transition, now: OffsetDateTime) -> Result<Self, Error> {
        match (self.settle(now), transition) {
            (
                Credentials::Active { current },
                Transition::Rotate {
                    mode: RotationMode::ExpireLater,
                    new,
                    grace,
                },
            ) => Ok(Credentials::Rotating {
                current: new,
                previous: current,
                // Saturates rather than overflow: a grace period that outlasts the
                // calendar keeps the previous token until the end of time.
                previous_expires_at: now.checked_add(grace).unwrap_or(END_OF_TIME),
            }),
            (
                Credentials::Rotating { .. },
                Transition::Rotate {
                    mode: RotationMode::ExpireLater,
                    ..
                },
            ) => Err(Error::RotationInProgress),
            (
                _,
                Transition::Rotate {
                    mode: RotationMode::ExpireNow,
                    new,
                    ..
                },
            ) => Ok(Credentials::Active { current: new }),
            (Credentials::Rotating { previous, .. }, Transition::CancelRotation) => {
                Ok(Credentials::Active { current: previous })
            }
            (Credentials::Rotating { current, .. }, Transition::ExpirePreviousNow) => {
                Ok(Credentials::Active { current })
            }
            // A revoked token gets no grace period: the new token alone is live.
            (
                Credentials::Revoked { .. },
                Transition::Rotate {
                    mode: RotationMode::ExpireLater,
                    new,
                    ..
                },
            ) => Ok(Credentials::Active { current: new }),
            (
                Credentials::Active { .. } | Credentials::Revoked { .. },
                Transition::CancelRotation | Transition::ExpirePreviousNow,
            ) => Err(Error::NoRotationInProgress),
        }
    }

    /// Revokes the live token `leaked` at `now`, because it was found in a public place:
    /// the previous token of a rotation expires now (the current one stays); the current
    /// token makes the state [`Revoked`](Credentials::Revoked), previous token included.
    /// `None` if `leaked` is not live at `now` (unknown, expired, or revoked already):
    /// there is nothing to revoke.
    ///
    /// The expired previous token stays in the state (until the next change settles it
    /// away), so that a repeated report of it still finds its integration. It expires
    /// at [`LEAKED_PREVIOUS_EXPIRES_AT`], long past, not at `now`: a replica whose clock
    /// runs behind sees it expired too, and cannot cancel the rotation back to it.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use time::{Duration, macros::datetime};
    /// use private_integrations::domain::credentials::*;
    /// let t0 = datetime!(2026-01-01 0:00 UTC);
    /// let token = |id: &str| TokenCredential {
    ///     id: TokenId::parse(id).unwrap(),
    ///     hash: TokenHash::from_bytes([0; 32]),
    ///     issued_at: t0,
    /// };
    /// let leaked = token("OldOldOldOldOld1");
    /// let revoked = Credentials::new(leaked).revoke_leaked(&leaked.id, t0).unwrap();
    /// assert_eq!(revoked.find(&leaked.id).unwrap().1, TokenRole::Revoked);
    /// assert!(revoked.revoke_leaked(&leaked.id, t0).is_none(), "revoked once");
    /// ```
    pub fn revoke_leaked(self, leaked: &TokenId, now: OffsetDateTime) -> Option<Self> {
        match self.settle(now) {
            Credentials::Active { current } if current.id == *leaked => {
                Some(Credentials::Revoked {
                    current,
                    revoked_at: now,
                })
            }
            Credentials::Rotating { current, .. } if current.id == *leaked => {
                Some(Credentials::Revoked {
                    current,
                    revoked_at: now,
                })
            }
            Credentials::Rotating {
                current, previous, ..
            } if previous.id == *leaked => Some(Credentials::Rotating {
                current,
                previous,
                previous_expires_at: LEAKED_PREVIOUS_EXPIRES_AT,
            }),
            _ => None,
        }
    }

    /// When the current token was revoked, if the state is
    /// [`Revoked`](Credentials::Revoked).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use time::macros::datetime;
    /// use private_integrations::domain::credentials::*;
    /// # let t0 = datetime!(2026-01-01 0:00 UTC);
    /// # let leaked = TokenCredential { id: TokenId::parse("OldOldOldOldOld1").unwrap(), hash: TokenHash::from_bytes([0; 32]), issued_at: t0 };
    /// assert_eq!(Credentials::new(leaked).revoked_at(), None);
    /// let revoked = Credentials::new(leaked).revoke_leaked(&leaked.id, t0).unwrap();
    /// assert_eq!(revoked.revoked_at(), Some(t0));
    /// ```
    pub fn revoked_at(&self) -> Option<OffsetDateTime> {
        match self {
            Credentials::Revoked { revoked_at, .. } => Some(*revoked_at),
            _ => None,
        }
    }

    /// The current token.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use time::{Duration, macros::datetime};
    /// use private_integrations::domain::credentials::*;
    /// let t0 = datetime!(2026-01-01 0:00 UTC);
    /// let token = |id: &str| TokenCredential {
    ///     id: TokenId::parse(id).unwrap(),
    ///     hash: TokenHash::from_bytes([0; 32]),
    ///     issued_at: t0,
    /// };
    /// let active = Credentials::new(token("OldOldOldOldOld1"));
    /// assert_eq!(active.current().issued_at, t0);
    /// ```
    pub fn current(&self) -> &TokenCredential {
        match self {
            Credentials::Active { current }
            | Credentials::Rotating { current, .. }
            | Credentials::Revoked { current, .. } => current,
        }
    }

    /// The previous token of a rotation and when it expires, if the state (as stored, not
    /// settled) has one.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use time::{Duration, macros::datetime};
    /// use private_integrations::domain::credentials::*;
    /// let t0 = datetime!(2026-01-01 0:00 UTC);
    /// let token = |id: &str| TokenCredential {
    ///     id: TokenId::parse(id).unwrap(),
    ///     hash: TokenHash::from_bytes([0; 32]),
    ///     issued_at: t0,
    /// };
    /// let rotating = Credentials::Rotating {
    ///     current: token("NewNewNewNewNew1"),
    ///     previous: token("OldOldOldOldOld1"),
    ///     previous_expires_at: t0 + Duration::days(7),
    /// };
    /// let (previous, expires_at) = rotating.previous().unwrap();
    /// assert_eq!((previous.id.as_str(), expires_at), ("OldOldOldOldOld1", t0 + Duration::days(7)));
    /// ```
    pub fn previous(&self) -> Option<(&TokenCredential, OffsetDateTime)> {
        match self {
            Credentials::Active { .. } | Credentials::Revoked { .. } => None,
            Credentials::Rotating {
                previous,
                previous_expires_at,
                ..
            } => Some((previous, *previous_expires_at)),
        }
    }

    /// The credential a token id names, and its role. Expiry is the caller's check: a
    /// `Previous` role carries its `expires_at`.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use time::{Duration, macros::datetime};
    /// use private_integrations::domain::credentials::*;
    /// let t0 = datetime!(2026-01-01 0:00 UTC);
    /// let token = |id: &str| TokenCredential {
    ///     id: TokenId::parse(id).unwrap(),
    ///     hash: TokenHash::from_bytes([0; 32]),
    ///     issued_at: t0,
    /// };
    /// let active = Credentials::new(token("OldOldOldOldOld1"));
    /// assert!(active.find(&TokenId::parse("Unknown000000000").unwrap()).is_none());
    /// ```
    #[inline]
    pub fn find(&self, id: &TokenId) -> Option<(&TokenCredential, TokenRole)> {
        // Both ids are compared whatever the first gives: the search costs the same
        // for every id.
        let current = self.current();
        let is_current = current.id == *id;
        let previous = self.previous().filter(|(previous, _)| previous.id == *id);
        let current_role = if matches!(self, Credentials::Revoked { .. }) {
            TokenRole::Revoked
        } else {
            TokenRole::Current
        };
        match (is_current, previous) {
            (true, _) => Some((current, current_role)),
            (false, Some((previous, expires_at))) => {
                Some((previous, TokenRole::Previous { expires_at }))
            }
            (false, None) => None,
        }
    }

    /// Every token id the state knows (current first).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::{TokenHash, TokenId};
    /// # use time::{Duration, macros::datetime};
    /// use private_integrations::domain::credentials::*;
    /// let t0 = datetime!(2026-01-01 0:00 UTC);
    /// let token = |id: &str| TokenCredential {
    ///     id: TokenId::parse(id).unwrap(),
    ///     hash: TokenHash::from_bytes([0; 32]),
    ///     issued_at: t0,
    /// };
    /// let rotating = Credentials::Rotating {
    ///     current: token("NewNewNewNewNew1"),
    ///     previous: token("OldOldOldOldOld1"),
    ///     previous_expires_at: t0 + Duration::days(7),
    /// };
    /// let ids: Vec<_> = rotating.token_ids().map(|id| id.to_string()).collect();
    /// assert_eq!(ids, ["NewNewNewNewNew1", "OldOldOldOldOld1"]);
    /// ```
    pub fn token_ids(&self) -> impl Iterator<Item = TokenId> + '_ {
        std::iter::once(self.current().id).chain(self.previous().map(|(p, _)| p.id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-01-01 00:00 UTC);
    const GRACE: Duration = Duration::days(7);

    fn cred(n: u8) -> TokenCredential {
        let id = format!("{:0>16}", n);
        TokenCredential {
            id: TokenId::parse(&id).unwrap(),
            hash: TokenHash::from_bytes([n; 32]),
            issued_at: T0,
        }
    }

    fn rotate(mode: RotationMode, n: u8) -> Transition {
        Transition::Rotate {
            mode,
            new: cred(n),
            grace: GRACE,
        }
    }

    fn ids(state: &Credentials) -> Vec<TokenId> {
        state.token_ids().collect()
    }

    #[test]
    fn a_leaked_current_token_revokes_everything_until_a_rotation() {
        let t = T0 + Duration::hours(1);
        // From Active and from Rotating: the current token is revoked, the previous
        // token of a rotation dies with it.
        let rotating = Credentials::new(cred(1))
            .apply(rotate(RotationMode::ExpireLater, 2), T0)
            .unwrap();
        for state in [Credentials::new(cred(2)), rotating] {
            let revoked = state.revoke_leaked(&cred(2).id, t).unwrap();
            assert!(matches!(revoked, Credentials::Revoked { revoked_at, .. } if revoked_at == t));
            assert_eq!(revoked.find(&cred(2).id).unwrap().1, TokenRole::Revoked);
            assert!(revoked.find(&cred(1).id).is_none());
            assert_eq!(revoked.revoked_at(), Some(t));
            assert_eq!(ids(&revoked), [cred(2).id]);
            // Reported again: nothing more to revoke.
            assert!(revoked.revoke_leaked(&cred(2).id, t).is_none());
            // Either rotation issues a live token, without a grace for the leaked one.
            for mode in [RotationMode::ExpireLater, RotationMode::ExpireNow] {
                let rotated = revoked.apply(rotate(mode, 3), t).unwrap();
                assert!(
                    matches!(rotated, Credentials::Active { current } if current.id == cred(3).id)
                );
            }
            for action in [Transition::CancelRotation, Transition::ExpirePreviousNow] {
                assert!(matches!(
                    revoked.apply(action, t),
                    Err(Error::NoRotationInProgress)
                ));
            }
            // Settling never brings it back.
            assert_eq!(revoked.settle(t + GRACE * 10).revoked_at(), Some(t));
        }
    }

    #[test]
    fn a_leaked_previous_token_expires_now_and_the_new_one_lives_on() {
        let rotating = Credentials::new(cred(1))
            .apply(rotate(RotationMode::ExpireLater, 2), T0)
            .unwrap();
        let t = T0 + Duration::hours(1);
        let revoked = rotating.revoke_leaked(&cred(1).id, t).unwrap();
        assert_eq!(
            revoked.find(&cred(1).id).unwrap().1,
            TokenRole::Previous {
                expires_at: LEAKED_PREVIOUS_EXPIRES_AT
            },
            "kept, expired, so that a repeated report finds it"
        );
        // Expired for a clock that runs behind, too: the rotation cannot be cancelled
        // back to the leaked token.
        assert!(matches!(
            revoked.apply(Transition::CancelRotation, T0),
            Err(Error::NoRotationInProgress)
        ));
        assert_eq!(revoked.find(&cred(2).id).unwrap().1, TokenRole::Current);
        assert!(revoked.settle(t).previous().is_none());
        assert!(
            revoked.revoke_leaked(&cred(1).id, t).is_none(),
            "revoked once"
        );
        // A previous token that has expired, or an id the state does not know: nothing.
        assert!(rotating.revoke_leaked(&cred(1).id, T0 + GRACE).is_none());
        assert!(rotating.revoke_leaked(&cred(9).id, t).is_none());
        assert!(
            Credentials::new(cred(1))
                .revoke_leaked(&cred(9).id, t)
                .is_none()
        );
    }

    #[test]
    fn active_rows() {
        let active = Credentials::new(cred(1));
        let later = active
            .apply(rotate(RotationMode::ExpireLater, 2), T0)
            .unwrap();
        assert!(
            matches!(later, Credentials::Rotating { previous_expires_at, .. } if previous_expires_at == T0 + GRACE)
        );
        assert_eq!(ids(&later), [cred(2).id, cred(1).id]);

        let now = active
            .apply(rotate(RotationMode::ExpireNow, 2), T0)
            .unwrap();
        assert_eq!(ids(&now), [cred(2).id]);

        for action in [Transition::CancelRotation, Transition::ExpirePreviousNow] {
            assert!(matches!(
                active.apply(action, T0),
                Err(Error::NoRotationInProgress)
            ));
        }
    }

    #[test]
    fn rotating_rows() {
        let rotating = Credentials::new(cred(1))
            .apply(rotate(RotationMode::ExpireLater, 2), T0)
            .unwrap();
        let t = T0 + Duration::days(1);
        assert!(matches!(
            rotating.apply(rotate(RotationMode::ExpireLater, 3), t),
            Err(Error::RotationInProgress)
        ));
        assert_eq!(
            ids(&rotating
                .apply(rotate(RotationMode::ExpireNow, 3), t)
                .unwrap()),
            [cred(3).id]
        );
        assert_eq!(
            ids(&rotating.apply(Transition::CancelRotation, t).unwrap()),
            [cred(1).id]
        );
        assert_eq!(
            ids(&rotating.apply(Transition::ExpirePreviousNow, t).unwrap()),
            [cred(2).id]
        );
    }

    #[test]
    fn a_passed_window_behaves_as_active() {
        let rotating = Credentials::new(cred(1))
            .apply(rotate(RotationMode::ExpireLater, 2), T0)
            .unwrap();
        let just_before = T0 + GRACE - Duration::SECOND;
        assert_eq!(ids(&rotating.settle(just_before)), [cred(2).id, cred(1).id]);
        let at = T0 + GRACE;
        assert_eq!(ids(&rotating.settle(at)), [cred(2).id]);
        // Every action sees Active(current) once the window has passed.
        assert!(matches!(
            rotating.apply(Transition::CancelRotation, at),
            Err(Error::NoRotationInProgress)
        ));
        let again = rotating
            .apply(rotate(RotationMode::ExpireLater, 3), at)
            .unwrap();
        assert_eq!(ids(&again), [cred(3).id, cred(2).id]);
    }

    #[test]
    fn a_grace_period_beyond_the_calendar_saturates() {
        let huge = Transition::Rotate {
            mode: RotationMode::ExpireLater,
            new: cred(2),
            grace: Duration::MAX,
        };
        let rotating = Credentials::new(cred(1)).apply(huge, T0).unwrap();
        assert_eq!(rotating.previous().map(|(_, at)| at), Some(END_OF_TIME));
    }

    #[test]
    fn find_names_roles() {
        let rotating = Credentials::new(cred(1))
            .apply(rotate(RotationMode::ExpireLater, 2), T0)
            .unwrap();
        assert_eq!(
            rotating.find(&cred(2).id).map(|(_, r)| r),
            Some(TokenRole::Current)
        );
        assert_eq!(
            rotating.find(&cred(1).id).map(|(_, r)| r),
            Some(TokenRole::Previous {
                expires_at: T0 + GRACE
            })
        );
        assert!(rotating.find(&cred(3).id).is_none());
    }
}
