//! Keyset pages cut from whole listings: what the default [`Storage`] paged methods do,
//! for backends that do not override them.
//!
//! [`Storage`]: super::Storage

use time::{Duration, OffsetDateTime};

use super::{AuditEvent, IntegrationRecord};
use crate::domain::ids::IntegrationId;
use crate::domain::listing::IntegrationQuery;
use crate::domain::page::{AuditLogQuery, Cursor, ListOrder, Page, PageRequest};

/// The page after `page`'s cursor of `records`, which are oldest first (by creation
/// time, then id): the records whose key sorts strictly after the cursor's.
pub(crate) fn integrations(
    records: impl IntoIterator<Item = IntegrationRecord>,
    page: &PageRequest,
) -> Page<IntegrationRecord> {
    let after = page.cursor().and_then(Cursor::integration_key);
    let mut items = records.into_iter().filter(|record| match after {
        Some((created_at, id)) => (record.created_at, &record.id) > (created_at, id),
        None => true,
    });
    take_page(&mut items, page.page_size(), |record| {
        Cursor::after_integration(record.created_at, &record.id)
    })
}

/// The page of `query` of `records` (any order): those that match, sorted in the
/// query's order, after its cursor, counted.
pub(crate) fn query_integrations(
    records: impl IntoIterator<Item = IntegrationRecord>,
    query: &IntegrationQuery,
    now: OffsetDateTime,
    rotation_interval: Duration,
) -> Page<IntegrationRecord> {
    let mut matching: Vec<IntegrationRecord> = records
        .into_iter()
        .filter(|record| query.matches(record, now, rotation_interval))
        .collect();
    let total = matching.len() as u64;
    let order = query.list_order();
    matching.sort_unstable_by(|a, b| ordered(order, a, b));
    let after = query
        .page_request()
        .cursor()
        .and_then(|cursor| cursor.integration_key_in(order));
    let mut items = matching
        .into_iter()
        .filter(|record| after.is_none_or(|key| follows(order, record, key)));
    take_page(&mut items, query.page_request().page_size(), |record| {
        Cursor::after_integration_in(order, record.created_at, &record.id)
    })
    .with_total(total)
}

/// `a` against `b` in `order` (by creation time, then id).
pub(crate) fn ordered(
    order: ListOrder,
    a: &IntegrationRecord,
    b: &IntegrationRecord,
) -> std::cmp::Ordering {
    let ascending = (a.created_at, &a.id).cmp(&(b.created_at, &b.id));
    match order {
        ListOrder::OldestFirst => ascending,
        ListOrder::NewestFirst => ascending.reverse(),
    }
}

/// Whether `record` sorts strictly after the cursor's key in `order`.
pub(crate) fn follows(
    order: ListOrder,
    record: &IntegrationRecord,
    (created_at, id): (OffsetDateTime, &IntegrationId),
) -> bool {
    let key = (record.created_at, &record.id);
    match order {
        ListOrder::OldestFirst => key > (created_at, id),
        ListOrder::NewestFirst => key < (created_at, id),
    }
}

/// The page after `query`'s cursor of an audit log given newest first (by time; of
/// events of one instant, the one written last first).
///
/// An event's position among the events of its instant is counted from the oldest, so
/// it does not change when later events of the same instant are written: the cursor
/// stays where it was as long as the log only ever grows at the newest end of each
/// instant, which the storage contract's order guarantees for a backend whose writes
/// land in the order they are made.
pub(crate) fn audit_events(
    newest_first: Vec<AuditEvent>,
    query: &AuditLogQuery,
) -> Page<AuditEvent> {
    let positions = positions(&newest_first);
    let after = query
        .page_request()
        .cursor()
        .and_then(Cursor::audit_event_key);
    let filter = query.integration_id();
    let mut items = newest_first
        .into_iter()
        .zip(positions)
        .filter(|(event, position)| match after {
            Some(cursor) => (event.at, *position) < cursor,
            None => true,
        })
        .filter(|(event, _)| filter.is_none() || event.integration.as_ref() == filter);
    let page = take_page(
        &mut items,
        query.page_request().page_size(),
        |(event, position)| Cursor::after_audit_event(event.at, *position),
    );
    page.map(|(event, _)| event)
}

/// Each event's position among the events of its instant, counted from 1 for the oldest,
/// for a log given newest first.
fn positions(newest_first: &[AuditEvent]) -> Vec<u64> {
    let mut positions = vec![0; newest_first.len()];
    let mut instant: Option<(OffsetDateTime, u64)> = None;
    for (slot, event) in positions.iter_mut().zip(newest_first).rev() {
        let count = match instant {
            Some((at, count)) if at == event.at => count + 1,
            _ => 1,
        };
        instant = Some((event.at, count));
        *slot = count;
    }
    positions
}

/// Up to `size` items, and the cursor after the last of them if there is one more.
pub(crate) fn take_page<T>(
    items: &mut impl Iterator<Item = T>,
    size: usize,
    cursor: impl Fn(&T) -> Cursor,
) -> Page<T> {
    let taken: Vec<T> = items.by_ref().take(size).collect();
    let more = taken.len() == size && items.next().is_some();
    let next = if more { taken.last().map(cursor) } else { None };
    Page::new(taken, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::audit::AuditAction;
    use crate::domain::ids::{AccountId, UserId};
    use time::Duration;

    fn event(at: OffsetDateTime, n: u64) -> AuditEvent {
        AuditEvent {
            account: AccountId::new("acct"),
            actor: UserId::new(format!("u{n}")),
            integration: None,
            action: AuditAction::FeatureSwitched { enabled: true },
            at,
        }
    }

    #[test]
    fn positions_count_from_the_oldest_of_each_instant() {
        let t = OffsetDateTime::UNIX_EPOCH;
        let log = vec![
            event(t + Duration::SECOND, 5),
            event(t, 4),
            event(t, 3),
            event(t, 2),
            event(t - Duration::SECOND, 1),
        ];
        assert_eq!(positions(&log), [1, 3, 2, 1, 1]);
    }

    #[test]
    fn a_new_event_of_the_cursors_instant_changes_nothing_after_it() {
        let t = OffsetDateTime::UNIX_EPOCH;
        let mut log = vec![event(t, 3), event(t, 2), event(t, 1)];
        let query = |cursor: Option<Cursor>| {
            let mut page = PageRequest::new().limit(1);
            if let Some(cursor) = cursor {
                page = page.after(cursor);
            }
            AuditLogQuery::new().page(page)
        };
        let first = audit_events(log.clone(), &query(None));
        assert_eq!(first.items, [event(t, 3)]);
        // Written after the first page, at the same instant: it sorts first.
        log.insert(0, event(t, 4));
        let second = audit_events(log.clone(), &query(first.next));
        assert_eq!(second.items, [event(t, 2)]);
        let third = audit_events(log, &query(second.next));
        assert_eq!(third.items, [event(t, 1)]);
        assert!(third.next.is_none());
    }
}
