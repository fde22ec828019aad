//! Usage: how often each token of an integration was used, hour by hour as stored, day
//! by day as shown.
//!
//! Verification counts each success in process (see the service's last-used writer) and
//! the counts are written with the last-used times, once per last-used interval, as
//! [`TokenUses`]: one token, one hour (UTC), a number of uses. [`Usage`] is what an
//! admin reads: one [`UsageDay`] per day of the kept window, the uses of the current
//! token apart from those of the tokens it replaced, and the same split over the last 24
//! hours.

use time::{Date, Duration, OffsetDateTime, Time};

use super::ids::TokenId;

/// How long daily use counts are kept by default: 90 days. See
/// [`usage_retention`](crate::PrivateIntegrationsBuilder::usage_retention).
///
/// # Example
///
/// ```
/// assert_eq!(private_integrations::DEFAULT_USAGE_RETENTION, time::Duration::days(90));
/// ```
pub const DEFAULT_USAGE_RETENTION: Duration = Duration::days(90);

/// The uses of one token in one hour: what the service writes with the last-used times
/// ([`Storage::record_token_uses`](crate::Storage::record_token_uses)) and what a backend
/// gives back ([`Storage::token_uses`](crate::Storage::token_uses)).
///
/// # Example
///
/// ```
/// use private_integrations::{TokenId, storage::TokenUses};
/// use time::macros::datetime;
/// let uses = TokenUses::new(TokenId::parse("AbCdEfGh12345678")?, datetime!(2026-12-07 10:42 UTC), 12);
/// // Kept by the hour it falls in.
/// assert_eq!(uses.hour, datetime!(2026-12-07 10:00 UTC));
/// # Ok::<(), private_integrations::InvalidInput>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenUses {
    /// The token that was used.
    pub token_id: TokenId,
    /// The start of the hour (UTC) the uses fall in.
    pub hour: OffsetDateTime,
    /// How many verifications of the token succeeded in that hour.
    pub uses: u64,
}

impl TokenUses {
    /// `uses` uses of `token_id` in the hour (UTC) that holds `at`.
    ///
    /// # Example
    ///
    /// ```
    /// use private_integrations::{TokenId, storage::TokenUses};
    /// use time::macros::datetime;
    /// let at = datetime!(2026-12-07 23:59:59 +01:00);
    /// let uses = TokenUses::new(TokenId::parse("AbCdEfGh12345678")?, at, 1);
    /// assert_eq!(uses.hour, datetime!(2026-12-07 22:00 UTC));
    /// # Ok::<(), private_integrations::InvalidInput>(())
    /// ```
    pub fn new(token_id: TokenId, at: OffsetDateTime, uses: u64) -> Self {
        Self {
            token_id,
            hour: hour_of(at),
            uses,
        }
    }
}

/// The start of the UTC hour that holds `at`. (At the very ends of `time`'s range,
/// where UTC cannot be represented, the hour in `at`'s own offset.)
pub(crate) fn hour_of(at: OffsetDateTime) -> OffsetDateTime {
    let at = at.checked_to_offset(time::UtcOffset::UTC).unwrap_or(at);
    at.replace_time(Time::from_hms(at.hour(), 0, 0).unwrap_or(Time::MIDNIGHT))
}

/// The first UTC day of the `days` days kept up to the day of `now`.
fn first_kept_day(now: OffsetDateTime, days: u16) -> Date {
    let today = hour_of(now).date();
    today
        .checked_sub(Duration::days(i64::from(days.max(1)) - 1))
        .unwrap_or(Date::MIN)
}

/// The oldest hour whose counts a usage retention of `days` days keeps at `now`: the
/// start of its first day, or 23 hours before the current hour if that is earlier (so
/// that the last 24 hours are always kept, also with a retention of one day).
pub(crate) fn oldest_kept_hour(now: OffsetDateTime, days: u16) -> OffsetDateTime {
    let first_day = first_kept_day(now, days).midnight().assume_utc();
    let last_24_hours = hour_of(now)
        .checked_sub(Duration::hours(23))
        .unwrap_or(first_day);
    first_day.min(last_24_hours)
}

/// Uses of an integration's tokens, the current one apart from the ones before it.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// fn still_in_use(usage: &Usage) -> bool {
///     usage.last_24_hours().previous() > 0
/// }
/// # let _ = still_in_use;
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UseTotals {
    current: u64,
    previous: u64,
}

impl UseTotals {
    /// Uses of the integration's current token.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(private_integrations::UseTotals::default().current(), 0);
    /// ```
    pub fn current(&self) -> u64 {
        self.current
    }

    /// Uses of the tokens the current one replaced: during a rotation, the previous
    /// token; after it, the tokens the integration no longer holds, until their counts
    /// pass the retention.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(private_integrations::UseTotals::default().previous(), 0);
    /// ```
    pub fn previous(&self) -> u64 {
        self.previous
    }

    /// Both together.
    ///
    /// # Example
    ///
    /// ```
    /// assert_eq!(private_integrations::UseTotals::default().total(), 0);
    /// ```
    pub fn total(&self) -> u64 {
        self.current.saturating_add(self.previous)
    }

    /// The uses of `days` together, saturating as every count does.
    pub(crate) fn sum_of(days: &[UsageDay]) -> Self {
        days.iter().fold(Self::default(), |mut sum, day| {
            sum.add(true, day.uses.current);
            sum.add(false, day.uses.previous);
            sum
        })
    }

    fn add(&mut self, current: bool, uses: u64) {
        let count = if current {
            &mut self.current
        } else {
            &mut self.previous
        };
        *count = count.saturating_add(uses);
    }
}

/// One day (UTC) of an integration's use: see [`Usage::days`].
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// fn busiest(usage: &Usage) -> Option<time::Date> {
///     usage.days().iter().max_by_key(|day| day.total()).map(|day| day.date())
/// }
/// # let _ = busiest;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageDay {
    date: Date,
    uses: UseTotals,
}

impl UsageDay {
    /// The day, in UTC.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # fn first(usage: &Usage) -> Option<time::Date> {
    /// usage.days().first().map(|day| day.date())
    /// # }
    /// ```
    pub fn date(&self) -> Date {
        self.date
    }

    /// Uses of the current token that day.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # fn today(usage: &Usage) -> u64 {
    /// usage.days().last().map_or(0, |day| day.current())
    /// # }
    /// ```
    pub fn current(&self) -> u64 {
        self.uses.current
    }

    /// Uses of the tokens the current one replaced that day (see
    /// [`UseTotals::previous`]).
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # fn today(usage: &Usage) -> u64 {
    /// usage.days().last().map_or(0, |day| day.previous())
    /// # }
    /// ```
    pub fn previous(&self) -> u64 {
        self.uses.previous
    }

    /// Uses of every token that day.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # fn today(usage: &Usage) -> u64 {
    /// usage.days().last().map_or(0, |day| day.total())
    /// # }
    /// ```
    pub fn total(&self) -> u64 {
        self.uses.total()
    }
}

/// How an integration's tokens were used: returned by
/// [`PrivateIntegrations::usage`](crate::PrivateIntegrations::usage).
///
/// Counts are written once per last-used interval (a minute by default), so the newest
/// uses show up to one interval late; a use is counted in the hour (and day) in which
/// the service took it for writing, so one near the turn of an hour may count in the
/// next (with a long last-used interval, or a write that hangs for long, the slip is
/// as long). A batch whose write failed is kept and added to the next one: if the
/// storage had in fact committed it (a connection lost at the commit), those uses are
/// counted twice. Counts are for seeing how much a token is used, not for billing. A
/// service that records no last-used times (built outside a tokio runtime, or with a
/// zero interval) counts nothing: [`recorded`](Self::recorded) says so.
///
/// # Example
///
/// ```
/// # use private_integrations::*;
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let pi = PrivateIntegrations::builder(MemoryStorage::new())
///     .scope_catalog(ScopeCatalog::new(["contacts.readonly"])?)
///     .build();
/// let admin = Actor::admin(AccountId::new("acct_1"), UserId::new("u_1"));
/// let created = pi.create(&admin, NewIntegration::new("Zapier sync").scopes(["contacts.readonly"])).await?;
/// let usage = pi.usage(&admin, created.integration.id()).await?;
/// assert_eq!(usage.days().len(), 90);
/// assert!(usage.days().iter().all(|day| day.total() == 0));
/// # Ok::<(), Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    days: Vec<UsageDay>,
    last_24_hours: UseTotals,
    recorded: bool,
}

impl Usage {
    /// The usage of an integration whose current token is `current`, at `now`, from
    /// the stored counts of its tokens: one day for each of the `days` days up to the
    /// day of `now`, oldest first.
    pub(crate) fn from_counts(
        now: OffsetDateTime,
        days: u16,
        current: &TokenId,
        counts: &[TokenUses],
        recorded: bool,
    ) -> Self {
        let today = hour_of(now).date();
        let first = first_kept_day(now, days);
        let mut out: Vec<UsageDay> = std::iter::successors(Some(first), |d| d.next_day())
            .take_while(|d| *d <= today)
            .map(|date| UsageDay {
                date,
                uses: UseTotals::default(),
            })
            .collect();
        // The last 24 hours: the hours that start after `now - 24 h` (the current one
        // included), so 23 to 24 hours of uses.
        // (A clock within a day of time's first instant: every count is within 24 hours.)
        let since = now
            .checked_sub(Duration::DAY)
            .unwrap_or(time::PrimitiveDateTime::MIN.assume_utc());
        let mut last_24_hours = UseTotals::default();
        for count in counts {
            let is_current = count.token_id == *current;
            let date = hour_of(count.hour).date();
            if date >= first
                && let Ok(i) = usize::try_from((date - first).whole_days())
                && let Some(day) = out.get_mut(i)
            {
                day.uses.add(is_current, count.uses);
            }
            if count.hour > since && count.hour <= now {
                last_24_hours.add(is_current, count.uses);
            }
        }
        Self {
            days: out,
            last_24_hours,
            recorded,
        }
    }

    /// Every day of the kept window (the usage retention, 90 days by default), oldest
    /// first, ending today (UTC); days without uses are there with zeros.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # fn total(usage: &Usage) -> u64 {
    /// usage.days().iter().map(|day| day.total()).sum()
    /// # }
    /// ```
    pub fn days(&self) -> &[UsageDay] {
        &self.days
    }

    /// The newest `n` days of [`days`](Self::days) (all of them if fewer), oldest first.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # fn chart(usage: &Usage) {
    /// let month = usage.recent_days(30);
    /// assert!(month.len() <= 30);
    /// # }
    /// ```
    pub fn recent_days(&self, n: usize) -> &[UsageDay] {
        &self.days[self.days.len().saturating_sub(n)..]
    }

    /// Uses in the last 24 hours, to the hour: the current hour and the 23 before it.
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # fn old_token_in_use(usage: &Usage) -> bool {
    /// usage.last_24_hours().previous() > 0
    /// # }
    /// ```
    pub fn last_24_hours(&self) -> UseTotals {
        self.last_24_hours
    }

    /// Whether this service counts uses (it does when it records last-used times): if
    /// not, the zeros mean "not counted" rather than "not used".
    ///
    /// # Example
    ///
    /// ```
    /// # use private_integrations::*;
    /// # fn describe(usage: &Usage) -> &'static str {
    /// if usage.recorded() { "uses per day" } else { "uses are not counted here" }
    /// # }
    /// ```
    pub fn recorded(&self) -> bool {
        self.recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn token(c: char) -> TokenId {
        TokenId::parse(&c.to_string().repeat(16)).unwrap()
    }

    #[test]
    fn counts_fall_on_their_days_and_tokens() {
        let (current, old, older) = (token('C'), token('P'), token('E'));
        let now = datetime!(2026-12-07 10:30 UTC);
        let counts = [
            TokenUses::new(current, datetime!(2026-12-07 10:00 UTC), 5),
            TokenUses::new(current, datetime!(2026-12-07 09:00 UTC), 1),
            TokenUses::new(old, datetime!(2026-12-06 11:00 UTC), 7),
            // 23.5 hours ago and more: the day counts it, the last 24 hours do not.
            TokenUses::new(old, datetime!(2026-12-06 10:00 UTC), 100),
            TokenUses::new(older, datetime!(2026-12-01 00:00 UTC), 3),
            // Before the window: left out.
            TokenUses::new(current, datetime!(2026-12-04 23:00 UTC), 1000),
        ];
        let usage = Usage::from_counts(now, 3, &current, &counts, true);
        let days: Vec<(Date, u64, u64)> = usage
            .days()
            .iter()
            .map(|d| (d.date(), d.current(), d.previous()))
            .collect();
        assert_eq!(
            days,
            [
                (time::macros::date!(2026 - 12 - 05), 0, 0),
                (time::macros::date!(2026 - 12 - 06), 0, 107),
                (time::macros::date!(2026 - 12 - 07), 6, 0),
            ]
        );
        assert_eq!(
            (
                usage.last_24_hours().current(),
                usage.last_24_hours().previous()
            ),
            (6, 7)
        );
        assert_eq!(usage.recent_days(2).len(), 2);
        assert_eq!(usage.recent_days(30).len(), 3);

        // The window of a long retention: the older token's day counts as previous.
        let usage = Usage::from_counts(now, 90, &current, &counts, true);
        assert_eq!(usage.days().len(), 90);
        assert_eq!(usage.days().last().unwrap().date(), now.date());
        let first_of_month = usage
            .days()
            .iter()
            .find(|d| d.date() == time::macros::date!(2026 - 12 - 01))
            .unwrap();
        assert_eq!(
            (first_of_month.current(), first_of_month.previous()),
            (0, 3)
        );
    }

    #[test]
    fn an_hour_is_kept_in_utc() {
        let at = datetime!(2026-12-07 00:30 +02:00);
        assert_eq!(hour_of(at), datetime!(2026-12-06 22:00 UTC));
        let usage = Usage::from_counts(
            datetime!(2026-12-07 00:30 +02:00),
            2,
            &token('C'),
            &[TokenUses::new(token('C'), at, 1)],
            true,
        );
        // Still the 6th in UTC.
        assert_eq!(
            usage.days().last().unwrap().date(),
            time::macros::date!(2026 - 12 - 06)
        );
        assert_eq!(usage.days().last().unwrap().current(), 1);
    }

    #[test]
    fn a_clock_at_the_start_of_time_reads_without_a_panic() {
        let now = OffsetDateTime::new_utc(Date::MIN, Time::from_hms(5, 30, 0).unwrap());
        let at = OffsetDateTime::new_utc(Date::MIN, Time::from_hms(2, 0, 0).unwrap());
        let usage = Usage::from_counts(
            now,
            90,
            &token('C'),
            &[TokenUses::new(token('C'), at, 4)],
            true,
        );
        // The one day there is, and its uses within the last 24 hours.
        assert_eq!(usage.days().len(), 1);
        assert_eq!(usage.days()[0].current(), 4);
        assert_eq!(usage.last_24_hours().current(), 4);
    }
}
