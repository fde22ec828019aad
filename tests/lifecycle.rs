//! The admin's story, through the public API: every row of the product table (DESIGN
//! §1) and every cell of the token lifecycle table (§2), with a manual clock.
//!
//! The cases are plain async functions on a [`Harness`]; `lifecycle_tests!` runs every
//! one of them against a storage backend, so each backend walks the same story: memory,
//! SQLite (in memory and on a file) and PostgreSQL, with their features, each with the
//! verification cache and without (PostgreSQL caches by default). Failures
//! injected into the story are in `tests/faults.rs`.

mod support;

use private_integrations::*;
use support::*;
use time::Duration;

macro_rules! lifecycle_tests {
    ($backend:ident, $storage:expr) => {
        lifecycle_tests!($backend, $storage, cache: None);
    };
    ($backend:ident, $storage:expr, cache: $cache:expr) => {
        lifecycle_tests!(@cases $backend, $storage, $cache, [
            create_shows_the_token_once_and_it_verifies,
            bad_input_is_refused_and_changes_nothing,
            get_and_list_are_scoped_to_the_account,
            edit_keeps_the_token_and_applies_new_scopes,
            rotate_expire_later_keeps_both_until_the_exact_grace_boundary,
            cancel_rotation_kills_the_new_token_and_keeps_the_old_forever,
            expire_previous_now_kills_the_old_token,
            rotate_expire_now_kills_every_older_token_in_any_state,
            state_errors_change_nothing,
            a_passed_window_is_active_for_every_action,
            delete_kills_every_token,
            permissions_decide_who_manages,
            feature_switch_blocks_management_but_not_verification,
            rotation_reminder_lists_old_tokens,
            audit_log_records_every_change_newest_first,
            verification_refuses_anything_doubtful,
            a_token_works_only_for_the_service_that_issued_it,
            scopes_removed_from_the_catalog_are_not_granted,
            concurrent_actions_on_one_integration_have_one_winner,
            the_list_and_the_audit_log_come_in_pages,
            a_stale_edit_is_refused_and_changes_nothing,
            a_leaked_current_token_is_revoked_until_a_rotation,
            a_leaked_previous_token_expires_and_the_new_one_lives_on,
            a_leak_reported_again_changes_nothing_more,
            a_leak_with_notify_only_revokes_nothing,
            what_is_not_a_live_token_of_ours_is_a_false_positive,
            a_rotation_finishes_itself_once_the_old_token_is_silent,
            a_rotation_waits_while_the_old_token_is_in_use_or_the_new_one_is_not,
            a_rotation_an_admin_or_a_leak_ended_does_not_finish_itself,
            silent_rotations_of_every_account_finish_in_one_pass,
        ]);
    };
    (@cases $backend:ident, $storage:expr, $cache:expr, [$($case:ident),* $(,)?]) => {
        mod $backend {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    cases::$case(Harness::with_cache($storage, $cache)).await;
                }
            )*
        }
    };
}

lifecycle_tests!(memory, MemoryStorage::new());
#[cfg(feature = "sqlite")]
lifecycle_tests!(sqlite, sqlite_in_memory().await);
#[cfg(feature = "sqlite")]
lifecycle_tests!(sqlite_file, sqlite_file().await.0);
// Skipped (with a message) without DATABASE_URL, except under CI=true.
#[cfg(feature = "postgres")]
lifecycle_tests!(postgres, crate::postgres_or_skip!());
// With the verification cache on where the storage announces nothing (asked for), and
// off where it does (PostgreSQL caches by default): the story is the same either way.
lifecycle_tests!(
    memory_cached,
    MemoryStorage::new(),
    cache: Some(VerificationCache::new())
);
#[cfg(feature = "sqlite")]
lifecycle_tests!(
    sqlite_cached,
    sqlite_in_memory().await,
    cache: Some(VerificationCache::new())
);
#[cfg(feature = "postgres")]
lifecycle_tests!(
    postgres_uncached,
    crate::postgres_or_skip!(),
    cache: Some(VerificationCache::disabled())
);
// The same story through the fault-injection wrapper delaying a fifth of the storage
// calls (no failures): the wrapper is transparent, and yielding inside storage calls
// changes no outcome, not even the race of `concurrent_actions_on_one_integration`.
lifecycle_tests!(
    memory_with_random_delays,
    support::faults::FaultyStorage::delaying(MemoryStorage::new(), 0x5EC)
);

mod cases {
    use super::*;

    /// An input and the error it must give.
    type Refusal<T> = (T, fn(&Error) -> bool);

    pub async fn create_shows_the_token_once_and_it_verifies(h: Harness) {
        let created =
            h.pi.create(
                &h.admin,
                NewIntegration::new("  Zapier sync ")
                    .description("Pushes contacts")
                    .scopes(["contacts.readonly", "contacts.readonly"]),
            )
            .await
            .unwrap();
        let integration = &created.integration;
        assert_eq!(integration.name(), "Zapier sync");
        assert_eq!(integration.description(), "Pushes contacts");
        assert_eq!(integration.account(), h.admin.account());
        assert_eq!(
            integration.scopes().iter().collect::<Vec<_>>(),
            ["contacts.readonly"]
        );
        assert_eq!(
            (integration.created_at(), integration.updated_at()),
            (T0, T0)
        );
        assert_eq!(integration.token_issued_at(), T0);
        assert_eq!(integration.version(), 1);
        assert!(integration.pending_rotation().is_none());

        let token = created.token.expose_secret();
        assert_eq!(token.len(), 70);
        assert!(token.starts_with("pit_"));
        let verified = h.pi.verify(token).await.unwrap();
        assert_eq!(verified.account(), h.admin.account());
        assert_eq!(verified.integration_id(), integration.id());
        assert!(verified.has_scope("contacts.readonly"));
        assert!(!verified.has_scope("contacts.write"));

        // Nothing the admin can read back holds the token.
        let json = serde_json::to_string(&h.snapshot().await.0).unwrap();
        let secret = &token[21..64];
        assert!(!json.contains(secret), "{json}");
        assert_eq!(
            h.pi.get(&h.admin, integration.id()).await.unwrap(),
            *integration
        );
    }

    pub async fn bad_input_is_refused_and_changes_nothing(h: Harness) {
        let (id, token) = h.create("Existing", &["contacts.readonly"]).await;
        let before = h.snapshot().await;
        let long_name = "n".repeat(101);
        let long_description = "d".repeat(1001);

        let bad_creates: Vec<Refusal<NewIntegration>> = vec![
            (NewIntegration::new("").scopes(["contacts.readonly"]), |e| {
                matches!(
                    e,
                    Error::InvalidInput(InvalidInput::Empty { field: "name" })
                )
            }),
            (
                NewIntegration::new(" \t ").scopes(["contacts.readonly"]),
                |e| {
                    matches!(
                        e,
                        Error::InvalidInput(InvalidInput::Empty { field: "name" })
                    )
                },
            ),
            (
                NewIntegration::new(&long_name).scopes(["contacts.readonly"]),
                |e| {
                    matches!(
                        e,
                        Error::InvalidInput(InvalidInput::TooLong {
                            field: "name",
                            max: 100
                        })
                    )
                },
            ),
            (
                NewIntegration::new("bad\u{1b}[31m").scopes(["contacts.readonly"]),
                |e| {
                    matches!(
                        e,
                        Error::InvalidInput(InvalidInput::ControlCharacter { field: "name" })
                    )
                },
            ),
            (
                NewIntegration::new("ok")
                    .description(&long_description)
                    .scopes(["contacts.readonly"]),
                |e| {
                    matches!(
                        e,
                        Error::InvalidInput(InvalidInput::TooLong {
                            field: "description",
                            max: 1000
                        })
                    )
                },
            ),
            (
                NewIntegration::new("ok").scopes(["billing.write"]),
                |e| matches!(e, Error::UnknownScope(s) if s == "billing.write"),
            ),
            (NewIntegration::new("ok"), |e| {
                matches!(e, Error::InvalidInput(InvalidInput::NoScopes))
            }),
            (
                NewIntegration::new("ok").scopes(Vec::<String>::new()),
                |e| matches!(e, Error::InvalidInput(InvalidInput::NoScopes)),
            ),
        ];
        for (new, expected) in bad_creates {
            let err = h.pi.create(&h.admin, new.clone()).await.unwrap_err();
            assert!(expected(&err), "{new:?} gave {err:?}");
        }

        let bad_updates: Vec<Refusal<IntegrationUpdate>> = vec![
            (IntegrationUpdate::new(), |e| {
                matches!(e, Error::InvalidInput(InvalidInput::EmptyUpdate))
            }),
            (IntegrationUpdate::new().name(""), |e| {
                matches!(e, Error::InvalidInput(InvalidInput::Empty { .. }))
            }),
            (IntegrationUpdate::new().name(&long_name), |e| {
                matches!(e, Error::InvalidInput(InvalidInput::TooLong { .. }))
            }),
            (IntegrationUpdate::new().name("a\u{0}b"), |e| {
                matches!(
                    e,
                    Error::InvalidInput(InvalidInput::ControlCharacter { .. })
                )
            }),
            (
                IntegrationUpdate::new().description(&long_description),
                |e| matches!(e, Error::InvalidInput(InvalidInput::TooLong { .. })),
            ),
            (IntegrationUpdate::new().scopes(Vec::<String>::new()), |e| {
                matches!(e, Error::InvalidInput(InvalidInput::NoScopes))
            }),
            // One good field does not smuggle in a bad one.
            (
                IntegrationUpdate::new().name("Good").scopes(["nope"]),
                |e| matches!(e, Error::UnknownScope(_)),
            ),
        ];
        for (update, expected) in bad_updates {
            let err =
                h.pi.update(&h.admin, &id, update.clone())
                    .await
                    .unwrap_err();
            assert!(expected(&err), "{update:?} gave {err:?}");
        }

        assert_eq!(
            h.snapshot().await,
            before,
            "a refused call changed something"
        );
        assert!(h.verifies(&token).await);
    }

    pub async fn get_and_list_are_scoped_to_the_account(h: Harness) {
        let (first, _) = h.create("First", &["contacts.readonly"]).await;
        h.clock.advance(Duration::SECOND);
        let (second, _) = h.create("Second", &["contacts.write"]).await;
        let theirs =
            h.pi.create(
                &h.other_admin,
                NewIntegration::new("Theirs").scopes(["contacts.write"]),
            )
            .await
            .unwrap();
        let theirs_id = theirs.integration.id().clone();

        let ids: Vec<_> =
            h.pi.list(&h.admin)
                .await
                .unwrap()
                .iter()
                .map(|i| i.id().clone())
                .collect();
        assert_eq!(ids, [first.clone(), second]);
        assert_eq!(h.pi.list(&h.other_admin).await.unwrap().len(), 1);
        assert_eq!(h.pi.get(&h.admin, &first).await.unwrap().name(), "First");

        // Another account's integration is NotFound for every call, never PermissionDenied.
        let a = &h.admin;
        let o = &theirs_id;
        assert!(matches!(h.pi.get(a, o).await, Err(Error::NotFound)));
        assert!(matches!(
            h.pi.update(a, o, IntegrationUpdate::new().name("x")).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            h.pi.rotate(a, o, RotationMode::ExpireNow).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            h.pi.cancel_rotation(a, o).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            h.pi.expire_previous_now(a, o).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(h.pi.delete(a, o).await, Err(Error::NotFound)));
        assert!(
            h.verifies(&theirs.token).await,
            "their token survived our attempts"
        );
        assert_eq!(h.pi.get(&h.other_admin, o).await.unwrap().version(), 1);

        let never = IntegrationId::parse("0000000000000000").unwrap();
        assert!(matches!(h.pi.get(a, &never).await, Err(Error::NotFound)));
    }

    pub async fn edit_keeps_the_token_and_applies_new_scopes(h: Harness) {
        let (id, token) = h.create("Zapier", &["contacts.readonly"]).await;
        assert!(
            h.verify(&token)
                .await
                .unwrap()
                .require_scope("contacts.write")
                .is_err()
        );

        h.clock.advance(Duration::hours(1));
        let edited =
            h.pi.update(
                &h.admin,
                &id,
                IntegrationUpdate::new()
                    .name("Zapier (EU)")
                    .description("Now writes too")
                    .scopes(["contacts.write", "contacts.readonly"]),
            )
            .await
            .unwrap();
        assert_eq!(edited.name(), "Zapier (EU)");
        assert_eq!(edited.description(), "Now writes too");
        assert_eq!(edited.version(), 2);
        assert_eq!(edited.updated_at(), T0 + Duration::hours(1));
        assert_eq!(edited.token_issued_at(), T0, "editing issues no token");

        let verified = h
            .verify(&token)
            .await
            .expect("the same token keeps working");
        verified.require_scope("contacts.write").unwrap();
        verified.require_scope("contacts.readonly").unwrap();

        // Narrowing applies at once too.
        h.pi.update(
            &h.admin,
            &id,
            IntegrationUpdate::new().scopes(["calendars/events.write"]),
        )
        .await
        .unwrap();
        let verified = h.verify(&token).await.unwrap();
        assert!(matches!(
            verified.require_scope("contacts.write"),
            Err(VerifyError::InsufficientScope { required }) if required == "contacts.write"
        ));
        assert!(verified.has_scope("calendars/events.write"));

        // A description-only edit leaves the rest.
        let again =
            h.pi.update(&h.admin, &id, IntegrationUpdate::new().description(""))
                .await
                .unwrap();
        assert_eq!(
            (again.name(), again.description(), again.version()),
            ("Zapier (EU)", "", 4)
        );
    }

    pub async fn rotate_expire_later_keeps_both_until_the_exact_grace_boundary(h: Harness) {
        let (id, old) = h.create("Zapier", &["contacts.readonly"]).await;
        h.clock.advance(Duration::days(30));
        let rotated_at = T0 + Duration::days(30);
        let rotated =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap();
        let new = rotated.token;
        assert_ne!(new.expose_secret(), old.expose_secret());
        let pending = rotated
            .integration
            .pending_rotation()
            .expect("a rotation is pending");
        assert_eq!(pending.previous_expires_at(), rotated_at + GRACE);
        assert_eq!(pending.previous_issued_at(), T0);
        assert_eq!(rotated.integration.token_issued_at(), rotated_at);

        assert!(h.verifies(&old).await && h.verifies(&new).await);
        h.clock.advance(Duration::days(6));
        assert!(
            h.verifies(&old).await && h.verifies(&new).await,
            "both work on day 6"
        );

        h.clock.set(rotated_at + GRACE - Duration::SECOND);
        assert!(
            h.verifies(&old).await,
            "works one second before the grace period ends"
        );
        assert!(
            h.pi.get(&h.admin, &id)
                .await
                .unwrap()
                .pending_rotation()
                .is_some()
        );

        h.clock.set(rotated_at + GRACE);
        assert!(matches!(h.verify(&old).await, Err(VerifyError::Expired)));
        assert!(h.verifies(&new).await);
        let settled = h.pi.get(&h.admin, &id).await.unwrap();
        assert!(
            settled.pending_rotation().is_none(),
            "a passed window reads as Active"
        );

        h.clock.advance(Duration::days(1));
        assert!(h.verify(&old).await.is_err(), "refused on day 8");
        assert!(h.verifies(&new).await);
    }

    pub async fn cancel_rotation_kills_the_new_token_and_keeps_the_old_forever(h: Harness) {
        let (id, old) = h.create("Zapier", &["contacts.readonly"]).await;
        let new =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        h.clock.advance(Duration::days(2));
        let cancelled = h.pi.cancel_rotation(&h.admin, &id).await.unwrap();
        assert!(cancelled.pending_rotation().is_none());
        assert_eq!(
            cancelled.token_issued_at(),
            T0,
            "the old token is current again"
        );
        assert!(matches!(h.verify(&new).await, Err(VerifyError::Invalid)));
        h.clock.advance(Duration::days(365));
        assert!(
            h.verifies(&old).await,
            "the old token has no expiry any more"
        );
    }

    /// The `token_leaked` events of the account, oldest first: (token, url, revoked).
    async fn leak_events(h: &Harness) -> Vec<(TokenId, String, bool)> {
        let mut log = h.pi.audit_log(&h.admin).await.unwrap();
        log.reverse();
        log.into_iter()
            .filter_map(|event| match event.action {
                AuditAction::TokenLeaked {
                    token,
                    url,
                    revoked,
                } => Some((token, url.to_string(), revoked)),
                _ => None,
            })
            .collect()
    }

    fn scanner() -> UserId {
        UserId::new("github-secret-scanning")
    }

    pub async fn a_leaked_current_token_is_revoked_until_a_rotation(h: Harness) {
        // From Active, and from Rotating (where the previous token dies with it).
        let (id, leaked) = h.create("Leaky", &["contacts.readonly"]).await;
        let (rotating, old) = h.create("Rotating", &["contacts.readonly"]).await;
        let current =
            h.pi.rotate(&h.admin, &rotating, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        h.clock.advance(Duration::hours(1));
        for (id, token, dead) in [(&id, &leaked, None), (&rotating, &current, Some(&old))] {
            let url = "https://github.com/octo/app/blob/main/.env";
            let outcome =
                h.pi.report_leak(&scanner(), token.expose_secret(), url)
                    .await
                    .unwrap();
            assert_eq!(outcome.label, LeakLabel::TruePositive);
            assert!(outcome.revoked && outcome.recorded);
            assert_eq!(outcome.integration.as_ref(), Some(id));
            assert!(matches!(h.verify(token).await, Err(VerifyError::Invalid)));
            if let Some(old) = dead {
                assert!(!h.verifies(old).await, "the previous token dies too");
            }
            let integration = h.pi.get(&h.admin, id).await.unwrap();
            assert_eq!(integration.token_revoked_at(), Some(h.pi.now()));
            assert!(integration.pending_rotation().is_none());
            // A grace period is for a token that still works: none for a leaked one.
            let rotated =
                h.pi.rotate(&h.admin, id, RotationMode::ExpireLater)
                    .await
                    .unwrap();
            assert!(rotated.integration.pending_rotation().is_none());
            assert_eq!(rotated.integration.token_revoked_at(), None);
            assert!(h.verifies(&rotated.token).await);
            assert!(!h.verifies(token).await);
        }
        // Nothing else can be done to a revoked token's rotation.
        let (id, token) = h.create("Leaky again", &["contacts.readonly"]).await;
        h.pi.report_leak(&scanner(), token.expose_secret(), "")
            .await
            .unwrap();
        assert!(matches!(
            h.pi.cancel_rotation(&h.admin, &id).await,
            Err(Error::NoRotationInProgress)
        ));
        assert!(matches!(
            h.pi.expire_previous_now(&h.admin, &id).await,
            Err(Error::NoRotationInProgress)
        ));
        let events = leak_events(&h).await;
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|(_, _, revoked)| *revoked));
        let log = h.pi.audit_log(&h.admin).await.unwrap();
        assert_eq!(log[0].actor, scanner());
    }

    pub async fn a_leaked_previous_token_expires_and_the_new_one_lives_on(h: Harness) {
        let (id, old) = h.create("Zapier", &["contacts.readonly"]).await;
        let new =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        h.clock.advance(Duration::days(1));
        let outcome =
            h.pi.report_leak(&scanner(), old.expose_secret(), "https://gist.github.com/a")
                .await
                .unwrap();
        assert!(outcome.revoked && outcome.label == LeakLabel::TruePositive);
        assert!(!h.verifies(&old).await);
        assert!(h.verifies(&new).await);
        let integration = h.pi.get(&h.admin, &id).await.unwrap();
        assert!(integration.pending_rotation().is_none());
        assert_eq!(
            integration.token_revoked_at(),
            None,
            "the current token is fine"
        );
        // Found in a second place: recognised, recorded, not revoked again.
        let second =
            h.pi.report_leak(&scanner(), old.expose_secret(), "https://gist.github.com/b")
                .await
                .unwrap();
        assert_eq!(second.label, LeakLabel::TruePositive);
        assert!(!second.revoked && second.recorded);
        let old_id = TokenId::parse(&old.expose_secret()[4..20]).unwrap();
        assert_eq!(
            leak_events(&h).await,
            [
                (old_id, "https://gist.github.com/a".to_owned(), true),
                (old_id, "https://gist.github.com/b".to_owned(), false),
            ]
        );
    }

    pub async fn a_leak_reported_again_changes_nothing_more(h: Harness) {
        let (id, token) = h.create("Leaky", &["contacts.readonly"]).await;
        let url = "https://github.com/octo/app/commit/1";
        let first =
            h.pi.report_leak(&scanner(), token.expose_secret(), url)
                .await
                .unwrap();
        let version = h.pi.get(&h.admin, &id).await.unwrap().version();
        h.clock.advance(Duration::minutes(5));
        for _ in 0..3 {
            let again =
                h.pi.report_leak(&scanner(), token.expose_secret(), url)
                    .await
                    .unwrap();
            assert_eq!(again.label, LeakLabel::TruePositive);
            assert!(!again.revoked && !again.recorded);
        }
        assert!(first.revoked);
        assert_eq!(h.pi.get(&h.admin, &id).await.unwrap().version(), version);
        assert_eq!(leak_events(&h).await.len(), 1);
        // Many reports of one token at once: one revocation, each place once.
        let (_, racing) = h.create("Racing", &["contacts.readonly"]).await;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..8 {
            let (pi, secret) = (h.pi.clone(), racing.expose_secret().to_owned());
            tasks.spawn(async move {
                pi.report_leak(&scanner(), &secret, &format!("https://a.example/{}", n % 2))
                    .await
            });
        }
        let mut revoked = 0;
        while let Some(outcome) = tasks.join_next().await {
            let outcome = outcome.unwrap().unwrap();
            assert_eq!(outcome.label, LeakLabel::TruePositive);
            revoked += usize::from(outcome.revoked);
        }
        assert_eq!(revoked, 1);
        assert_eq!(
            leak_events(&h).await.len(),
            3,
            "the first token's place and two more"
        );
        assert!(!h.verifies(&racing).await);
    }

    pub async fn a_leak_with_notify_only_revokes_nothing(h: Harness) {
        let pi = PrivateIntegrations::builder(h.storage.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(h.clock.clone())
            .leak_policy(LeakPolicy::NotifyOnly)
            .build();
        let (id, token) = h.create("Leaky", &["contacts.readonly"]).await;
        let outcome = pi
            .report_leak(&scanner(), token.expose_secret(), "https://npmjs.com/x")
            .await
            .unwrap();
        assert_eq!(outcome.label, LeakLabel::TruePositive);
        assert!(!outcome.revoked && outcome.recorded);
        assert!(pi.verify(token.expose_secret()).await.is_ok());
        assert_eq!(
            pi.get(&h.admin, &id).await.unwrap().token_revoked_at(),
            None
        );
        assert_eq!(leak_events(&h).await.len(), 1);
        // Reported again, at another place: recorded; at the same: not.
        pi.report_leak(&scanner(), token.expose_secret(), "https://npmjs.com/y")
            .await
            .unwrap();
        pi.report_leak(&scanner(), token.expose_secret(), "https://npmjs.com/x")
            .await
            .unwrap();
        assert!(leak_events(&h).await.iter().all(|(_, _, revoked)| !revoked));
        assert_eq!(leak_events(&h).await.len(), 2);
    }

    pub async fn what_is_not_a_live_token_of_ours_is_a_false_positive(h: Harness) {
        let (id, token) = h.create("Kept", &["contacts.readonly"]).await;
        let rotated_away = {
            let (id, token) = h.create("Rotated", &["contacts.readonly"]).await;
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireNow)
                .await
                .unwrap();
            token
        };
        let deleted = {
            let (id, token) = h.create("Deleted", &["contacts.readonly"]).await;
            h.pi.delete(&h.admin, &id).await.unwrap();
            token
        };
        let events = h.pi.audit_log(&h.admin).await.unwrap().len();
        for text in [
            "not a token".to_owned(),
            String::new(),
            wrong_secret(token.expose_secret()),
            unknown_id(token.expose_secret()),
            reprefix(token.expose_secret(), "pit", "abc"),
            rotated_away.expose_secret().to_owned(),
            deleted.expose_secret().to_owned(),
        ] {
            let outcome =
                h.pi.report_leak(&scanner(), &text, "https://a.example/")
                    .await
                    .unwrap();
            assert_eq!(outcome.label, LeakLabel::FalsePositive);
            assert!(!outcome.revoked && !outcome.recorded && outcome.integration.is_none());
        }
        // Through an account: another account's live token is not theirs to report.
        let elsewhere =
            h.pi.report_leak_as(&h.other_admin, token.expose_secret(), "")
                .await
                .unwrap();
        assert_eq!(elsewhere.label, LeakLabel::FalsePositive);
        // A member without permission may not report at all.
        assert!(matches!(
            h.pi.report_leak_as(&h.member, token.expose_secret(), "")
                .await,
            Err(Error::PermissionDenied)
        ));
        assert!(h.verifies(&token).await);
        assert_eq!(h.pi.audit_log(&h.admin).await.unwrap().len(), events);
        assert_eq!(h.pi.get(&h.admin, &id).await.unwrap().version(), 1);
    }

    pub async fn expire_previous_now_kills_the_old_token(h: Harness) {
        let (id, old) = h.create("Zapier", &["contacts.readonly"]).await;
        let new =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        h.clock.advance(Duration::days(1));
        let done = h.pi.expire_previous_now(&h.admin, &id).await.unwrap();
        assert!(done.pending_rotation().is_none());
        assert!(matches!(h.verify(&old).await, Err(VerifyError::Invalid)));
        assert!(h.verifies(&new).await);
    }

    pub async fn rotate_expire_now_kills_every_older_token_in_any_state(h: Harness) {
        // From Active.
        let (id, first) = h.create("Leaky", &["contacts.readonly"]).await;
        let second =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireNow)
                .await
                .unwrap();
        assert!(second.integration.pending_rotation().is_none());
        assert!(!h.verifies(&first).await);
        assert!(h.verifies(&second.token).await);

        // From Rotating: both old tokens die.
        let third =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        assert!(h.verifies(&second.token).await && h.verifies(&third).await);
        let fourth =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireNow)
                .await
                .unwrap();
        assert!(fourth.integration.pending_rotation().is_none());
        for dead in [&first, &second.token, &third] {
            assert!(!h.verifies(dead).await);
        }
        assert!(h.verifies(&fourth.token).await);
        assert_eq!(fourth.integration.version(), 4);
    }

    pub async fn state_errors_change_nothing(h: Harness) {
        let (id, old) = h.create("Zapier", &["contacts.readonly"]).await;
        let before = h.snapshot().await;
        assert!(matches!(
            h.pi.cancel_rotation(&h.admin, &id).await,
            Err(Error::NoRotationInProgress)
        ));
        assert!(matches!(
            h.pi.expire_previous_now(&h.admin, &id).await,
            Err(Error::NoRotationInProgress)
        ));
        assert_eq!(h.snapshot().await, before);

        let new =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        let before = h.snapshot().await;
        assert!(matches!(
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater).await,
            Err(Error::RotationInProgress)
        ));
        assert_eq!(h.snapshot().await, before);
        assert!(h.verifies(&old).await && h.verifies(&new).await);
    }

    pub async fn a_passed_window_is_active_for_every_action(h: Harness) {
        let (id, first) = h.create("Zapier", &["contacts.readonly"]).await;
        // Issued a day apart, so issue times tell the tokens apart.
        h.clock.advance(Duration::days(1));
        let second =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        h.clock.advance(GRACE);
        assert!(matches!(
            h.pi.cancel_rotation(&h.admin, &id).await,
            Err(Error::NoRotationInProgress)
        ));
        assert!(matches!(
            h.pi.expire_previous_now(&h.admin, &id).await,
            Err(Error::NoRotationInProgress)
        ));
        let third =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap();
        let pending = third.integration.pending_rotation().unwrap();
        assert_eq!(
            pending.previous_issued_at(),
            T0 + Duration::days(1),
            "the second token is the previous one"
        );
        assert!(h.verifies(&second).await && h.verifies(&third.token).await);
        assert!(!h.verifies(&first).await, "the first token stays expired");
    }

    pub async fn delete_kills_every_token(h: Harness) {
        let (id, old) = h.create("Zapier", &["contacts.readonly"]).await;
        let new =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        let (other, other_token) = h.create("Other", &["contacts.readonly"]).await;
        h.pi.delete(&h.admin, &id).await.unwrap();
        assert!(matches!(h.verify(&old).await, Err(VerifyError::Invalid)));
        assert!(matches!(h.verify(&new).await, Err(VerifyError::Invalid)));
        assert!(matches!(
            h.pi.get(&h.admin, &id).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            h.pi.delete(&h.admin, &id).await,
            Err(Error::NotFound)
        ));
        assert!(matches!(
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireNow).await,
            Err(Error::NotFound)
        ));
        let ids: Vec<_> =
            h.pi.list(&h.admin)
                .await
                .unwrap()
                .iter()
                .map(|i| i.id().clone())
                .collect();
        assert_eq!(ids, [other]);
        assert!(h.verifies(&other_token).await);
    }

    pub async fn permissions_decide_who_manages(h: Harness) {
        let (id, _) = h.create("Zapier", &["contacts.readonly"]).await;
        let m = &h.member;
        let bob = h.member.user().clone();

        let denied = |r: Result<(), Error>| matches!(r, Err(Error::PermissionDenied));
        let all_calls = |actor: Actor| {
            let pi = h.pi.clone();
            let id = id.clone();
            async move {
                [
                    pi.create(
                        &actor,
                        NewIntegration::new("x").scopes(["contacts.readonly"]),
                    )
                    .await
                    .map(drop),
                    pi.get(&actor, &id).await.map(drop),
                    pi.list(&actor).await.map(drop),
                    pi.update(&actor, &id, IntegrationUpdate::new().name("x"))
                        .await
                        .map(drop),
                    pi.rotate(&actor, &id, RotationMode::ExpireLater)
                        .await
                        .map(drop),
                    pi.cancel_rotation(&actor, &id).await.map(drop),
                    pi.expire_previous_now(&actor, &id).await.map(drop),
                    pi.rotation_due(&actor).await.map(drop),
                    pi.audit_log(&actor).await.map(drop),
                    pi.delete(&actor, &id).await.map(drop),
                ]
            }
        };

        let before = h.snapshot().await;
        for result in all_calls(m.clone()).await {
            assert!(denied(result), "a member is denied by default");
        }
        // Only admins change permissions and the feature switch.
        assert!(denied(
            h.pi.set_permission(m, &bob, Permission::Allow).await
        ));
        assert!(denied(h.pi.set_feature_enabled(m, false).await));
        assert_eq!(h.snapshot().await, before, "denied calls changed something");

        h.pi.set_permission(&h.admin, &bob, Permission::Allow)
            .await
            .unwrap();
        let integration =
            h.pi.get(m, &id)
                .await
                .expect("an allowed member may manage");
        h.pi.update(m, &id, IntegrationUpdate::new().name("Renamed by Bob"))
            .await
            .unwrap();
        assert_eq!(integration.name(), "Zapier");
        assert!(
            denied(h.pi.set_permission(m, &bob, Permission::Allow).await),
            "still not an admin"
        );

        // A deny applies to an admin too; it is set, and lifted, by another admin.
        let admin_user = h.admin.user().clone();
        let carol = Actor::admin(h.admin.account().clone(), UserId::new("u_carol"));
        assert!(
            denied(
                h.pi.set_permission(&h.admin, &admin_user, Permission::Deny)
                    .await
            ),
            "an admin cannot change their own permission"
        );
        h.pi.set_permission(&carol, &admin_user, Permission::Deny)
            .await
            .unwrap();
        assert!(matches!(
            h.pi.list(&h.admin).await,
            Err(Error::PermissionDenied)
        ));
        assert!(
            denied(
                h.pi.set_permission(&h.admin, &admin_user, Permission::Allow)
                    .await
            ),
            "a denied admin cannot lift their own deny"
        );
        // A deny means no (DESIGN §1 row 7): a denied admin changes nothing at all — not
        // another admin's permission (so two admins cannot undo each other's deny), not a
        // member's, not the feature switch — and reads no settings.
        let seen_by_carol = async || {
            let list = h.pi.list(&carol).await.unwrap();
            let log = h.pi.audit_log(&carol).await.unwrap();
            let feature = h.pi.feature_enabled(&carol).await.unwrap();
            let bob_may = h.pi.permission(&carol, &bob).await.unwrap();
            (list, log, feature, bob_may)
        };
        let before_deny = seen_by_carol().await;
        let carol_id = carol.user().clone();
        for (what, refused) in [
            (
                "deny the admin who denied them",
                h.pi.set_permission(&h.admin, &carol_id, Permission::Deny)
                    .await,
            ),
            (
                "allow a member",
                h.pi.set_permission(&h.admin, &bob, Permission::Allow).await,
            ),
            (
                "switch the feature off",
                h.pi.set_feature_enabled(&h.admin, false).await,
            ),
            (
                "read the feature switch",
                h.pi.feature_enabled(&h.admin).await.map(drop),
            ),
            (
                "read a permission",
                h.pi.permission(&h.admin, &bob).await.map(drop),
            ),
        ] {
            assert!(denied(refused), "a denied admin may not {what}");
        }
        let key = IdempotencyKey::new("denied-admin-switch").unwrap();
        assert!(matches!(
            h.pi.once(&h.admin, &key).set_feature_enabled(false).await,
            Err(Error::PermissionDenied)
        ));
        assert_eq!(
            seen_by_carol().await,
            before_deny,
            "a denied admin changed something"
        );
        h.pi.set_permission(&carol, &admin_user, Permission::RoleDefault)
            .await
            .unwrap();
        assert!(h.pi.list(&h.admin).await.is_ok());

        h.pi.set_permission(&h.admin, &bob, Permission::RoleDefault)
            .await
            .unwrap();
        assert!(matches!(h.pi.list(m).await, Err(Error::PermissionDenied)));

        // Permissions are per account.
        h.pi.set_permission(&h.other_admin, &bob, Permission::Allow)
            .await
            .unwrap();
        assert!(matches!(h.pi.list(m).await, Err(Error::PermissionDenied)));
    }

    pub async fn feature_switch_blocks_management_but_not_verification(h: Harness) {
        let (id, token) = h.create("Zapier", &["contacts.readonly"]).await;
        h.pi.set_feature_enabled(&h.admin, false).await.unwrap();
        let off = |r: Result<(), Error>| matches!(r, Err(Error::FeatureDisabled));
        let a = &h.admin;
        assert!(off(h
            .pi
            .create(a, NewIntegration::new("x").scopes(["contacts.readonly"]))
            .await
            .map(drop)));
        assert!(off(h.pi.get(a, &id).await.map(drop)));
        assert!(off(h.pi.list(a).await.map(drop)));
        assert!(off(h
            .pi
            .update(a, &id, IntegrationUpdate::new().name("x"))
            .await
            .map(drop)));
        assert!(off(h
            .pi
            .rotate(a, &id, RotationMode::ExpireNow)
            .await
            .map(drop)));
        assert!(off(h.pi.delete(a, &id).await));
        assert!(off(h.pi.rotation_due(a).await.map(drop)));
        assert!(h.verifies(&token).await, "issued tokens keep verifying");
        // A member still gets PermissionDenied: they learn nothing of the switch.
        assert!(matches!(
            h.pi.list(&h.member).await,
            Err(Error::PermissionDenied)
        ));
        // Other accounts are unaffected.
        assert!(h.pi.list(&h.other_admin).await.is_ok());

        h.pi.set_feature_enabled(a, true).await.unwrap();
        assert_eq!(
            h.pi.get(a, &id).await.unwrap().version(),
            1,
            "nothing changed while off"
        );
        let log = h.pi.audit_log(a).await.unwrap();
        assert_eq!(
            log[0].action,
            AuditAction::FeatureSwitched { enabled: true }
        );
        assert_eq!(
            log[1].action,
            AuditAction::FeatureSwitched { enabled: false }
        );
    }

    pub async fn rotation_reminder_lists_old_tokens(h: Harness) {
        let (old_one, _) = h.create("Old", &["contacts.readonly"]).await;
        h.clock.advance(Duration::days(30));
        let (young, _) = h.create("Young", &["contacts.readonly"]).await;

        h.clock.set(T0 + Duration::days(90) - Duration::SECOND);
        assert!(h.pi.rotation_due(&h.admin).await.unwrap().is_empty());
        h.clock.set(T0 + Duration::days(90));
        let due: Vec<_> =
            h.pi.rotation_due(&h.admin)
                .await
                .unwrap()
                .iter()
                .map(|i| i.id().clone())
                .collect();
        assert_eq!(due, std::slice::from_ref(&old_one));

        // Rotating clears the reminder; cancelling brings it back (the old token is current).
        h.pi.rotate(&h.admin, &old_one, RotationMode::ExpireLater)
            .await
            .unwrap();
        assert!(h.pi.rotation_due(&h.admin).await.unwrap().is_empty());
        h.pi.cancel_rotation(&h.admin, &old_one).await.unwrap();
        assert_eq!(h.pi.rotation_due(&h.admin).await.unwrap().len(), 1);

        h.clock.set(T0 + Duration::days(121));
        assert_eq!(h.pi.rotation_due(&h.admin).await.unwrap().len(), 2);
        h.pi.rotate(&h.admin, &young, RotationMode::ExpireNow)
            .await
            .unwrap();
        let due: Vec<_> =
            h.pi.rotation_due(&h.admin)
                .await
                .unwrap()
                .iter()
                .map(|i| i.id().clone())
                .collect();
        assert_eq!(due, [old_one]);
    }

    pub async fn audit_log_records_every_change_newest_first(h: Harness) {
        let (id, _) = h.create("Zapier", &["contacts.readonly"]).await;
        let bob = h.member.user().clone();
        let steps: Vec<AuditAction> = vec![
            AuditAction::Updated,
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            },
            AuditAction::RotationCancelled,
            AuditAction::Rotated {
                mode: RotationMode::ExpireLater,
            },
            AuditAction::PreviousExpired,
            AuditAction::Rotated {
                mode: RotationMode::ExpireNow,
            },
            AuditAction::PermissionChanged {
                user: bob.clone(),
                permission: Permission::Allow,
            },
            AuditAction::FeatureSwitched { enabled: true },
            AuditAction::Deleted,
        ];
        h.clock.advance(Duration::MINUTE);
        h.pi.update(&h.admin, &id, IntegrationUpdate::new().name("Renamed"))
            .await
            .unwrap();
        h.clock.advance(Duration::MINUTE);
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap();
        h.clock.advance(Duration::MINUTE);
        h.pi.cancel_rotation(&h.admin, &id).await.unwrap();
        h.clock.advance(Duration::MINUTE);
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
            .await
            .unwrap();
        h.clock.advance(Duration::MINUTE);
        h.pi.expire_previous_now(&h.admin, &id).await.unwrap();
        h.clock.advance(Duration::MINUTE);
        h.pi.rotate(&h.admin, &id, RotationMode::ExpireNow)
            .await
            .unwrap();
        h.clock.advance(Duration::MINUTE);
        h.pi.set_permission(&h.admin, &bob, Permission::Allow)
            .await
            .unwrap();
        h.clock.advance(Duration::MINUTE);
        h.pi.set_feature_enabled(&h.admin, true).await.unwrap();
        h.clock.advance(Duration::MINUTE);
        // Failed actions are not recorded.
        assert!(h.pi.cancel_rotation(&h.admin, &id).await.is_err());
        h.pi.delete(&h.admin, &id).await.unwrap();

        let log = h.pi.audit_log(&h.admin).await.unwrap();
        assert_eq!(log.len(), steps.len() + 1);
        let mut expected: Vec<AuditAction> = vec![AuditAction::Created];
        expected.extend(steps);
        expected.reverse();
        assert_eq!(
            log.iter().map(|e| e.action.clone()).collect::<Vec<_>>(),
            expected
        );
        for (n, event) in log.iter().rev().enumerate() {
            assert_eq!(event.at, T0 + Duration::minutes(n as i64));
            assert_eq!(&event.account, h.admin.account());
            assert_eq!(&event.actor, h.admin.user());
            let expects_integration = !matches!(
                event.action,
                AuditAction::PermissionChanged { .. } | AuditAction::FeatureSwitched { .. }
            );
            assert_eq!(
                event.integration.as_ref() == Some(&id),
                expects_integration,
                "{event:?}"
            );
        }
        assert!(
            h.pi.audit_log(&h.other_admin).await.unwrap().is_empty(),
            "logs are per account"
        );
    }

    pub async fn verification_refuses_anything_doubtful(h: Harness) {
        let (_, token) = h.create("Zapier", &["contacts.readonly"]).await;
        let good = token.expose_secret();
        let malformed = [
            String::new(),
            "pit_".into(),
            "Bearer ".to_string() + good,
            good[..good.len() - 1].into(),
            format!("{good}x"),
            good.replacen("pit_", "sk_", 1),
            format!("{}é{}", &good[..40], &good[42..]),
            format!("{} {}", &good[..40], &good[41..]),
            // A one-character typo breaks the checksum.
            format!(
                "{}{}{}",
                &good[..50],
                if &good[50..51] == "a" { "b" } else { "a" },
                &good[51..]
            ),
            "x".repeat(1_000_000),
        ];
        for case in &malformed {
            assert!(
                matches!(h.pi.verify(case).await, Err(VerifyError::Malformed)),
                "{:?}",
                &case[..case.len().min(80)]
            );
        }
        // Well-formed, but storage refuses: unknown id and wrong secret are one case.
        assert!(matches!(
            h.pi.verify(&wrong_secret(good)).await,
            Err(VerifyError::Invalid)
        ));
        assert!(matches!(
            h.pi.verify(&unknown_id(good)).await,
            Err(VerifyError::Invalid)
        ));
        assert!(h.pi.verify(good).await.is_ok());

        // Another service's prefix is malformed here.
        let acme = PrivateIntegrations::builder(MemoryStorage::new())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .token_prefix("acme")
            .unwrap()
            .build();
        assert!(matches!(
            acme.verify(good).await,
            Err(VerifyError::Malformed)
        ));
        assert!(
            PrivateIntegrations::builder(MemoryStorage::new())
                .token_prefix("Not-ok")
                .is_err()
        );
    }

    /// Two services with different prefixes on one storage: a token of one, its prefix
    /// changed and its checksum recomputed, is well-formed for the other but refused.
    pub async fn a_token_works_only_for_the_service_that_issued_it(h: Harness) {
        let test = PrivateIntegrations::builder(h.storage.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(h.clock.clone())
            .token_prefix("test")
            .unwrap()
            .build();
        let live = PrivateIntegrations::builder(h.storage.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .clock(h.clock.clone())
            .token_prefix("live")
            .unwrap()
            .build();
        let new = || NewIntegration::new("Sync").scopes(["contacts.readonly"]);
        let test_token = test.create(&h.admin, new()).await.unwrap().token;
        let live_token = live.create(&h.admin, new()).await.unwrap().token;
        assert!(test.verify(test_token.expose_secret()).await.is_ok());
        assert!(live.verify(live_token.expose_secret()).await.is_ok());

        for (token, from, to, other) in [
            (&test_token, "test", "live", &live),
            (&live_token, "live", "test", &test),
        ] {
            let moved = reprefix(token.expose_secret(), from, to);
            assert!(
                other.token_format().looks_like_token(&moved),
                "{from} → {to}"
            );
            assert!(
                matches!(other.verify(&moved).await, Err(VerifyError::Invalid)),
                "a {from} token passed for {to}"
            );
        }
        // The unchanged tokens, offered to the other service, are not even well-formed.
        assert!(matches!(
            live.verify(test_token.expose_secret()).await,
            Err(VerifyError::Malformed)
        ));
    }

    pub async fn scopes_removed_from_the_catalog_are_not_granted(h: Harness) {
        // The host ships a smaller catalog on the same storage: verification fails closed.
        let storage = MemoryStorage::new();
        let wide = PrivateIntegrations::builder(storage.clone())
            .scope_catalog(ScopeCatalog::new(SCOPES).unwrap())
            .build();
        let token = wide
            .create(
                &h.admin,
                NewIntegration::new("Wide").scopes(["contacts.readonly", "contacts.write"]),
            )
            .await
            .unwrap()
            .token;
        let narrow = PrivateIntegrations::builder(storage)
            .scope_catalog(ScopeCatalog::new(["contacts.readonly"]).unwrap())
            .build();
        let verified = narrow.verify(token.expose_secret()).await.unwrap();
        assert!(verified.has_scope("contacts.readonly"));
        assert!(!verified.has_scope("contacts.write"));
    }

    pub async fn concurrent_actions_on_one_integration_have_one_winner(h: Harness) {
        let (id, old) = h.create("Contended", &["contacts.readonly"]).await;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (pi, admin, id) = (h.pi.clone(), h.admin.clone(), id.clone());
                tokio::spawn(async move { pi.rotate(&admin, &id, RotationMode::ExpireLater).await })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(rotated) => winners.push(rotated.token),
                Err(Error::Conflict | Error::RotationInProgress) => {}
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one rotation wins");
        assert!(h.verifies(&old).await && h.verifies(&winners[0]).await);
        let integration = h.pi.get(&h.admin, &id).await.unwrap();
        assert_eq!(integration.version(), 2);
        let rotations =
            h.pi.audit_log(&h.admin)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| matches!(e.action, AuditAction::Rotated { .. }))
                .count();
        assert_eq!(rotations, 1, "one audit event per successful action");
    }

    /// An account with many integrations and a long log reads them a page at a time:
    /// the pages add up to the whole, one integration's log can be read alone, and bad
    /// page requests are refused without touching anything.
    pub async fn the_list_and_the_audit_log_come_in_pages(h: Harness) {
        let mut ids = Vec::new();
        for n in 0..7 {
            let (id, _) = h
                .create(&format!("Integration {n}"), &["contacts.readonly"])
                .await;
            ids.push(id);
            h.clock.advance(Duration::MINUTE);
        }
        for id in &ids[..3] {
            h.pi.rotate(&h.admin, id, RotationMode::ExpireNow)
                .await
                .unwrap();
        }
        h.pi.delete(&h.admin, &ids[1]).await.unwrap();

        // The list, three at a time.
        let mut listed = Vec::new();
        let mut request = PageRequest::new().limit(3);
        loop {
            let page = h.pi.list_page(&h.admin, request.clone()).await.unwrap();
            assert!(page.items.len() <= 3);
            listed.extend(page.items);
            match page.next {
                Some(cursor) => request = request.after(cursor),
                None => break,
            }
        }
        assert_eq!(listed, h.pi.list(&h.admin).await.unwrap());
        assert_eq!(listed.len(), 6);

        // The audit log, newest first; and the log of one integration, deleted or not.
        let whole = h.pi.audit_log(&h.admin).await.unwrap();
        let mut paged = Vec::new();
        let mut request = PageRequest::new().limit(4);
        loop {
            let query = AuditLogQuery::new().page(request.clone());
            let page = h.pi.audit_log_page(&h.admin, query).await.unwrap();
            paged.extend(page.items);
            match page.next {
                Some(cursor) => request = request.after(cursor),
                None => break,
            }
        }
        assert_eq!(paged, whole);
        let deleted = AuditLogQuery::new().integration(ids[1].clone());
        let actions: Vec<AuditAction> =
            h.pi.audit_log_page(&h.admin, deleted)
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|e| e.action)
                .collect();
        assert_eq!(
            actions,
            [
                AuditAction::Deleted,
                AuditAction::Rotated {
                    mode: RotationMode::ExpireNow
                },
                AuditAction::Created
            ]
        );
        let default =
            h.pi.audit_log_page(&h.admin, AuditLogQuery::new())
                .await
                .unwrap();
        assert_eq!(
            default.items, whole,
            "the default page holds the whole short log"
        );
        assert!(default.next.is_none());

        // Another account reads only its own, even with this account's cursor.
        let cursor =
            h.pi.list_page(&h.admin, PageRequest::new().limit(1))
                .await
                .unwrap()
                .next
                .unwrap();
        let theirs =
            h.pi.list_page(&h.other_admin, PageRequest::new().after(cursor.clone()))
                .await
                .unwrap();
        assert!(theirs.items.is_empty() && theirs.next.is_none());

        // Refused: sizes out of range, a cursor of the other listing, a caller who may
        // not manage. Nothing changes.
        let before = h.snapshot().await;
        let audit_cursor =
            h.pi.audit_log_page(
                &h.admin,
                AuditLogQuery::new().page(PageRequest::new().limit(1)),
            )
            .await
            .unwrap()
            .next
            .unwrap();
        for size in [0, MAX_PAGE_SIZE + 1] {
            let bad = PageRequest::new().limit(size);
            assert!(matches!(
                h.pi.list_page(&h.admin, bad.clone()).await,
                Err(Error::InvalidInput(InvalidInput::OutOfRange { .. }))
            ));
            assert!(matches!(
                h.pi.audit_log_page(&h.admin, AuditLogQuery::new().page(bad))
                    .await,
                Err(Error::InvalidInput(InvalidInput::OutOfRange { .. }))
            ));
        }
        assert!(matches!(
            h.pi.list_page(&h.admin, PageRequest::new().after(audit_cursor))
                .await,
            Err(Error::InvalidInput(InvalidInput::Malformed {
                field: "cursor"
            }))
        ));
        let crossed = AuditLogQuery::new().page(PageRequest::new().after(cursor));
        assert!(matches!(
            h.pi.audit_log_page(&h.admin, crossed).await,
            Err(Error::InvalidInput(InvalidInput::Malformed {
                field: "cursor"
            }))
        ));
        assert!(matches!(
            h.pi.list_page(&h.member, PageRequest::new()).await,
            Err(Error::PermissionDenied)
        ));
        assert!(matches!(
            h.pi.audit_log_page(&h.member, AuditLogQuery::new()).await,
            Err(Error::PermissionDenied)
        ));
        assert_eq!(h.snapshot().await, before);
    }

    /// Two admins open the same integration's edit form. Admin A removes
    /// `contacts.write`; admin B, whose form was made from the version before and still
    /// lists it, saves a rename. B's edit names the version it was made from, so it is
    /// refused, and `contacts.write` stays removed.
    pub async fn a_stale_edit_is_refused_and_changes_nothing(h: Harness) {
        let (id, token) = h
            .create("Zapier", &["contacts.readonly", "contacts.write"])
            .await;
        let admin_a = h.admin.clone();
        let admin_b = Actor::admin(h.admin.account().clone(), UserId::new("u_admin_b"));
        let form_a = h.pi.get(&admin_a, &id).await.unwrap();
        let form_b = h.pi.get(&admin_b, &id).await.unwrap();
        assert_eq!((form_a.version(), form_b.version()), (1, 1));

        h.clock.advance(Duration::MINUTE);
        let saved_a =
            h.pi.update(
                &admin_a,
                &id,
                IntegrationUpdate::new()
                    .scopes(["contacts.readonly"])
                    .expect_version(form_a.version()),
            )
            .await
            .unwrap();
        assert_eq!(saved_a.version(), 2);
        let before = h.snapshot().await;

        h.clock.advance(Duration::MINUTE);
        let form_b_scopes: Vec<&str> = form_b.scopes().iter().collect();
        assert_eq!(form_b_scopes, ["contacts.readonly", "contacts.write"]);
        let saved_b =
            h.pi.update(
                &admin_b,
                &id,
                IntegrationUpdate::new()
                    .name("Zapier (EU)")
                    .scopes(form_b_scopes)
                    .expect_version(form_b.version()),
            )
            .await;
        assert!(matches!(saved_b, Err(Error::Conflict)), "{saved_b:?}");

        // Nothing changed: A's edit stands, the token still may not write.
        assert_eq!(h.snapshot().await, before);
        let now = h.pi.get(&admin_b, &id).await.unwrap();
        assert_eq!((now.name(), now.version()), ("Zapier", 2));
        assert!(!h.verify(&token).await.unwrap().has_scope("contacts.write"));

        // B reloads, sees A's edit, and saves the rename alone from the new version.
        let renamed =
            h.pi.update(
                &admin_b,
                &id,
                IntegrationUpdate::new()
                    .name("Zapier (EU)")
                    .expect_version(now.version()),
            )
            .await
            .unwrap();
        assert_eq!(renamed.version(), 3);
        assert_eq!(
            renamed.scopes().iter().collect::<Vec<_>>(),
            ["contacts.readonly"]
        );

        // A version from the future is as stale as one from the past; an edit that names
        // no version applies to whatever is there, as before.
        for version in [0, 2, 4, u64::MAX] {
            let stale = IntegrationUpdate::new()
                .description("stale")
                .expect_version(version);
            assert!(matches!(
                h.pi.update(&admin_a, &id, stale).await,
                Err(Error::Conflict)
            ));
        }
        let unconditional = IntegrationUpdate::new().description("anyway");
        assert_eq!(
            h.pi.update(&admin_a, &id, unconditional)
                .await
                .unwrap()
                .version(),
            4
        );
    }

    /// Records uses of tokens as the last-used writer would have written them.
    async fn used(h: &Harness, uses: &[(&IssuedToken, time::OffsetDateTime)]) {
        let uses: Vec<storage::LastUse> = uses
            .iter()
            .map(|(token, at)| storage::LastUse {
                token_id: *token.token_id(),
                at: *at,
            })
            .collect();
        h.storage.record_last_used(&uses).await.unwrap();
    }

    /// The automatic expiry the audit log holds for `id`, newest first.
    async fn automatic_expiries(h: &Harness, actor: &Actor, id: &IntegrationId) -> Vec<AuditEvent> {
        h.pi.audit_log(actor)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| {
                e.integration.as_ref() == Some(id)
                    && matches!(e.action, AuditAction::PreviousExpiredAutomatically { .. })
            })
            .collect()
    }

    /// With `finish_rotation_when_silent(24 hours)`: the third party uses the new token an
    /// hour after the rotation and never the old one again; 24 hours after the rotation
    /// the old token expires, as "Expire now" would have it, with an audit event that
    /// says it was automatic and why.
    pub async fn a_rotation_finishes_itself_once_the_old_token_is_silent(h: Harness) {
        let h = h.finishing_rotations(Duration::hours(24));
        assert_eq!(
            h.pi.finish_rotation_when_silent(),
            Some(Duration::hours(24))
        );
        let (id, old) = h.create("Zapier", &["contacts.readonly"]).await;
        let rotated =
            h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                .await
                .unwrap();
        let new = rotated.token;
        // The third party switches an hour later: a verification, written at shutdown.
        h.clock.advance(Duration::hours(1));
        assert!(h.verifies(&new).await);
        h.pi.shutdown().await;
        let rotating = h.pi.get(&h.admin, &id).await.unwrap();
        assert_eq!(rotating.last_used_at(), Some(T0 + Duration::hours(1)));
        let pending = rotating.pending_rotation().unwrap();
        assert_eq!(pending.previous_last_used_at(), None);

        // The old token was never used: its silence counts from the rotation.
        h.clock
            .set(T0 + Duration::hours(24) - Duration::microseconds(1));
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 0);
        assert!(
            h.verifies(&old).await,
            "silent for a microsecond less than 24 hours"
        );
        assert_eq!(h.pi.get(&h.admin, &id).await.unwrap(), rotating);

        h.clock.set(T0 + Duration::hours(24));
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 1);
        assert!(matches!(h.verify(&old).await, Err(VerifyError::Invalid)));
        assert!(h.verifies(&new).await);
        let finished = h.pi.get(&h.admin, &id).await.unwrap();
        assert!(finished.pending_rotation().is_none());
        assert_eq!(finished.version(), rotating.version() + 1);
        assert_eq!(finished.updated_at(), T0 + Duration::hours(24));
        assert_eq!(finished.token_issued_at(), rotating.token_issued_at());

        let log = h.pi.audit_log(&h.admin).await.unwrap();
        let event = &log[0];
        assert_eq!(
            event.action,
            AuditAction::PreviousExpiredAutomatically {
                unused_for_secs: 24 * 3600
            }
        );
        assert_eq!(event.actor.as_str(), AUTOMATIC_ACTOR);
        assert_eq!(event.integration.as_ref(), Some(&id));
        assert_eq!(event.at, T0 + Duration::hours(24));
        assert_eq!(
            event.action.to_string(),
            "expired the previous token automatically: unused for 24 hours while the new \
             one was in use"
        );

        // Done once: the next passes find nothing to finish.
        h.clock.advance(Duration::days(1));
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 0);
        assert_eq!(automatic_expiries(&h, &h.admin, &id).await.len(), 1);
    }

    /// The old token still in use keeps the rotation going (its silence counts from its
    /// last use); a new token nobody used never finishes it early, and the window then
    /// ends as always, with no event. Without the setting nothing finishes by itself.
    pub async fn a_rotation_waits_while_the_old_token_is_in_use_or_the_new_one_is_not(h: Harness) {
        let hours = |n: i64| T0 + Duration::hours(n);
        let (in_use, old) = h.create("In use", &["contacts.readonly"]).await;
        let (unused, other_old) = h.create("New unused", &["contacts.readonly"]).await;
        let new =
            h.pi.rotate(&h.admin, &in_use, RotationMode::ExpireLater)
                .await
                .unwrap()
                .token;
        h.pi.rotate(&h.admin, &unused, RotationMode::ExpireLater)
            .await
            .unwrap();
        used(
            &h,
            &[(&new, hours(1)), (&old, hours(10)), (&other_old, hours(2))],
        )
        .await;

        // Off by default: a day and a half later, nothing.
        h.clock.set(hours(36));
        assert_eq!(h.pi.finish_rotation_when_silent(), None);
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 0);
        let h = h.finishing_rotations(Duration::hours(24));

        // Cached (where the service caches) before the finish: refused right after it.
        h.clock.set(hours(10));
        assert!(h.verifies(&old).await && h.verifies(&new).await);
        h.clock.set(hours(34) - Duration::microseconds(1));
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 0);
        assert!(
            h.verifies(&old).await,
            "used 24 hours less a microsecond ago"
        );
        h.clock.set(hours(34));
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 1);
        assert!(matches!(h.verify(&old).await, Err(VerifyError::Invalid)));
        assert!(h.verifies(&new).await);
        assert_eq!(automatic_expiries(&h, &h.admin, &in_use).await.len(), 1);

        // The other rotation's new token was never used: its old token lives on, silent
        // or not, until the window ends by itself.
        h.clock.set(T0 + GRACE - Duration::SECOND);
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 0);
        assert!(h.verifies(&other_old).await);
        let still = h.pi.get(&h.admin, &unused).await.unwrap();
        assert!(still.pending_rotation().is_some());
        h.clock.set(T0 + GRACE);
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 0);
        assert!(!h.verifies(&other_old).await);
        assert!(automatic_expiries(&h, &h.admin, &unused).await.is_empty());
        assert_eq!(
            h.pi.get(&h.admin, &unused).await.unwrap().version(),
            still.version()
        );
    }

    /// A rotation that an admin cancelled, finished or replaced, or whose new token was
    /// found leaked (revoked), is no rotation to finish: the old token's silence changes
    /// nothing, and no automatic event is written.
    pub async fn a_rotation_an_admin_or_a_leak_ended_does_not_finish_itself(h: Harness) {
        let h = h.finishing_rotations(Duration::hours(1));
        let mut cases = Vec::new();
        for name in ["Cancelled", "Expired now", "Rotated now", "Leaked"] {
            let (id, old) = h.create(name, &["contacts.readonly"]).await;
            let new =
                h.pi.rotate(&h.admin, &id, RotationMode::ExpireLater)
                    .await
                    .unwrap()
                    .token;
            used(&h, &[(&new, T0 + Duration::MINUTE)]).await;
            cases.push((name, id, old, new));
        }
        h.clock.advance(Duration::MINUTE * 2);
        for (name, id, _, new) in &cases {
            match *name {
                "Cancelled" => drop(h.pi.cancel_rotation(&h.admin, id).await.unwrap()),
                "Expired now" => drop(h.pi.expire_previous_now(&h.admin, id).await.unwrap()),
                "Rotated now" => drop(
                    h.pi.rotate(&h.admin, id, RotationMode::ExpireNow)
                        .await
                        .unwrap(),
                ),
                _ => {
                    let outcome =
                        h.pi.report_leak(&UserId::new("scanner"), new.expose_secret(), "")
                            .await
                            .unwrap();
                    assert!(outcome.revoked);
                }
            }
        }
        let before = h.snapshot().await;
        h.clock.advance(Duration::days(2));
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 0);
        let after = h.snapshot().await;
        assert_eq!(after.1, before.1, "no event");
        for (name, id, old, _) in &cases {
            assert!(
                automatic_expiries(&h, &h.admin, id).await.is_empty(),
                "{name}"
            );
            // Only a cancelled rotation left the old token working.
            assert_eq!(h.verifies(old).await, *name == "Cancelled", "{name}");
        }
    }

    /// One pass finishes the silent rotations of every account, each with its event in
    /// its own account's log.
    pub async fn silent_rotations_of_every_account_finish_in_one_pass(h: Harness) {
        let h = h.finishing_rotations(Duration::hours(24));
        let mut rotations = Vec::new();
        for actor in [&h.admin, &h.other_admin] {
            let created =
                h.pi.create(
                    actor,
                    NewIntegration::new("Sync").scopes(["contacts.readonly"]),
                )
                .await
                .unwrap();
            let id = created.integration.id().clone();
            let new =
                h.pi.rotate(actor, &id, RotationMode::ExpireLater)
                    .await
                    .unwrap()
                    .token;
            used(&h, &[(&new, T0 + Duration::hours(1))]).await;
            rotations.push((actor, id, created.token, new));
        }
        h.clock.advance(Duration::hours(25));
        assert_eq!(h.pi.finish_silent_rotations().await.unwrap(), 2);
        for (actor, id, old, new) in &rotations {
            assert!(!h.verifies(old).await && h.verifies(new).await);
            let events = automatic_expiries(&h, actor, id).await;
            assert_eq!(events.len(), 1);
            assert_eq!(&events[0].account, actor.account());
        }
    }
}
