//! The audit trail's domain: what one record is, how records chain, how they are looked up, and
//! the seam through which a request's record joins the write batch of the change it describes.
//!
//! Owns: [`AuditEvent`] (one record as the store keeps it: the rendered event and the attributes
//! it is looked up by), the per-account hash chain ([`chain_hash`], [`verify_chain`]), the
//! lookup query, and [`AuditHook`]. Must not know the CloudTrail wire shape (the server renders
//! the event text) or SQL.
//!
//! Durability: a state-changing use-case commits through [`crate::engine::Kms`], which asks the
//! caller's hook for the request's record and puts it in the same batch as the change, so the
//! change and its record commit together or not at all. A request that commits nothing (a read,
//! a refusal) has its record committed by the server before it answers.

use crate::model::Timestamp;
use crate::store::Write;

/// An attribute a record can be looked up by (CloudTrail's `LookupAttributes` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAttribute {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

impl AuditAttribute {
    pub const ALL: [AuditAttribute; 8] = [
        AuditAttribute::EventId,
        AuditAttribute::EventName,
        AuditAttribute::ReadOnly,
        AuditAttribute::Username,
        AuditAttribute::ResourceType,
        AuditAttribute::ResourceName,
        AuditAttribute::EventSource,
        AuditAttribute::AccessKeyId,
    ];

    /// CloudTrail's name for the attribute, also the stored tag.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAttribute::EventId => "EventId",
            AuditAttribute::EventName => "EventName",
            AuditAttribute::ReadOnly => "ReadOnly",
            AuditAttribute::Username => "Username",
            AuditAttribute::ResourceType => "ResourceType",
            AuditAttribute::ResourceName => "ResourceName",
            AuditAttribute::EventSource => "EventSource",
            AuditAttribute::AccessKeyId => "AccessKeyId",
        }
    }

    pub fn parse(s: &str) -> Option<AuditAttribute> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether the store keeps an index entry per record for this attribute. ReadOnly,
    /// EventSource and ResourceType have one or two values in a KMS trail, so an index on them
    /// would list nearly every record and cost each append three more B-tree entries (a third
    /// of an Encrypt's audit cost, measured): the store keeps them in the record's [`tags`]
    /// instead, and a lookup by one of them walks the time index, newest first, testing the tags.
    pub fn is_indexed(self) -> bool {
        !matches!(
            self,
            AuditAttribute::ReadOnly | AuditAttribute::EventSource | AuditAttribute::ResourceType
        )
    }

    /// The text a record's [`tags`] contain when it has `value` for this attribute (`None`
    /// for a value no record can have: one with a line break, which delimits tags, or one
    /// that is no [`is_lookup_value`]).
    pub fn tag(self, value: &str) -> Option<String> {
        (!value.contains('\n') && is_lookup_value(value))
            .then(|| format!("\n{}={value}\n", self.as_str()))
    }
}

/// Whether records can be looked up by `value`: any text without a NUL character, which
/// PostgreSQL's `text` cannot hold (an attempt fails the statement, and with it every record of
/// the group). A record keeps such a value in its body, escaped as JSON does, but no store
/// indexes or tags it by that value, and a lookup for it finds nothing, on every store alike.
/// Such values come only from what a caller sends (a claimed access key id or operation, a key
/// ARN), never from a real credential or key.
pub fn is_lookup_value(value: &str) -> bool {
    !value.contains('\0')
}

/// The attributes a store keeps in the record itself rather than in its index (see
/// [`AuditAttribute::is_indexed`]), as one text: `\nName=Value\n` per attribute, so that
/// [`AuditAttribute::tag`] is a substring of it exactly when the record has that value.
pub fn tags<'a>(attributes: impl IntoIterator<Item = (AuditAttribute, &'a str)>) -> String {
    tags_where(attributes, |a| !a.is_indexed())
}

/// [`tags`] of the attributes `keep` selects (a value with a line break is never a tag, nor
/// one that is no [`is_lookup_value`]).
pub fn tags_where<'a>(
    attributes: impl IntoIterator<Item = (AuditAttribute, &'a str)>,
    keep: impl Fn(AuditAttribute) -> bool,
) -> String {
    let mut out = String::new();
    for (attribute, value) in attributes {
        if !keep(attribute) || value.contains('\n') || !is_lookup_value(value) {
            continue;
        }
        if out.is_empty() {
            out.push('\n');
        }
        out.push_str(attribute.as_str());
        out.push('=');
        out.push_str(value);
        out.push('\n');
    }
    out
}

/// The (attribute, value) pairs of a [`tags`] text, in order (unknown names are skipped).
pub fn parse_tags(tags: &str) -> impl Iterator<Item = (AuditAttribute, &str)> {
    tags.split('\n').filter_map(|tag| {
        let (name, value) = tag.split_once('=')?;
        Some((AuditAttribute::parse(name)?, value))
    })
}

/// One record, ready to store: the account whose chain it joins, its time, and the event text
/// (CloudTrail's JSON, rendered by the server), plus the attribute values it is indexed by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The account whose trail holds it (the recipient account). Empty when the request could
    /// not be tied to any account (an unknown access key).
    pub account: String,
    pub time: Timestamp,
    pub event_id: String,
    /// The record as CloudTrail renders it (one JSON object). Hashed exactly as stored.
    pub body: String,
    /// (attribute, value) pairs to index; an attribute may appear several times (resources).
    pub attributes: Vec<(AuditAttribute, String)>,
}

impl AuditEvent {
    /// The attributes the store indexes (see [`AuditAttribute::is_indexed`]), without values
    /// that are no [`is_lookup_value`].
    pub fn indexed(&self) -> impl Iterator<Item = (AuditAttribute, &str)> {
        self.attributes
            .iter()
            .filter(|(a, v)| a.is_indexed() && is_lookup_value(v))
            .map(|(a, v)| (*a, v.as_str()))
    }

    /// The attributes kept in the record itself, as [`tags`] renders them.
    pub fn tags(&self) -> String {
        tags(self.attributes.iter().map(|(a, v)| (*a, v.as_str())))
    }
}

/// A stored record with its place in its account's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    pub account: String,
    /// 1, 2, 3, ... per account, in commit order.
    pub seq: u64,
    pub time: Timestamp,
    pub event_id: String,
    pub body: String,
    /// The hash of the record before it in the chain (zeros for the first).
    pub prev_hash: [u8; 32],
    /// [`chain_hash`] of this record.
    pub hash: [u8; 32],
}

/// The head of one account's chain, as the store keeps it beside the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChainHead {
    /// The last record's sequence number (0: none yet).
    pub seq: u64,
    pub hash: [u8; 32],
    /// Records up to this sequence number were pruned by retention.
    pub pruned_through: u64,
}

/// The hash of a record: SHA-256 over its predecessor's hash, its account, its sequence number
/// and its text, each unambiguously delimited. A record edited, removed or moved changes the hash
/// its successor names.
pub fn chain_hash(prev: &[u8; 32], account: &str, seq: u64, body: &str) -> [u8; 32] {
    let mut data = Vec::with_capacity(32 + 8 + account.len() + 8 + 8 + body.len());
    data.extend_from_slice(b"trent/audit/v1/");
    data.extend_from_slice(prev);
    data.extend_from_slice(&(account.len() as u64).to_be_bytes());
    data.extend_from_slice(account.as_bytes());
    data.extend_from_slice(&seq.to_be_bytes());
    data.extend_from_slice(body.as_bytes());
    trent_crypto::sha256(&data)
}

/// The first fault of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainFault {
    /// The record's text or fields no longer hash to what was stored, or its stored hash is not
    /// what its successor names: it was altered.
    Altered { seq: u64, event_id: String },
    /// Records are missing before this one (removed, or moved elsewhere in the chain).
    Missing { expected_seq: u64, found_seq: u64 },
    /// The chain ends before its recorded head: its last records were removed.
    Truncated { last_seq: u64, head_seq: u64 },
}

impl std::fmt::Display for ChainFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainFault::Altered { seq, event_id } => {
                write!(
                    f,
                    "record {seq} (event {event_id}) was altered or reordered"
                )
            }
            ChainFault::Missing {
                expected_seq,
                found_seq,
            } => write!(
                f,
                "records {expected_seq}..{} were removed or reordered (next present: {found_seq})",
                found_seq.saturating_sub(1)
            ),
            ChainFault::Truncated { last_seq, head_seq } => write!(
                f,
                "records {}..={head_seq} were removed from the end",
                last_seq + 1
            ),
        }
    }
}

/// Walks one account's chain incrementally, in sequence order.
#[derive(Debug)]
pub struct ChainVerifier {
    account: String,
    expected_seq: u64,
    prev: Option<[u8; 32]>,
}

impl ChainVerifier {
    /// Starts after the pruned prefix recorded in `head`.
    pub fn new(account: &str, head: &ChainHead) -> Self {
        ChainVerifier {
            account: account.to_owned(),
            expected_seq: head.pruned_through + 1,
            prev: (head.pruned_through == 0).then_some([0; 32]),
        }
    }

    /// Checks the next stored record.
    pub fn next(&mut self, record: &StoredAuditEvent) -> Result<(), ChainFault> {
        if record.seq != self.expected_seq {
            return Err(ChainFault::Missing {
                expected_seq: self.expected_seq,
                found_seq: record.seq,
            });
        }
        let altered = || ChainFault::Altered {
            seq: record.seq,
            event_id: record.event_id.clone(),
        };
        // After a pruned prefix, the first record's predecessor is gone: its stated hash is taken
        // as the anchor.
        let prev = self.prev.unwrap_or(record.prev_hash);
        if record.prev_hash != prev {
            return Err(ChainFault::Altered {
                seq: record.seq - 1,
                event_id: "(the previous record)".into(),
            });
        }
        if chain_hash(&prev, &self.account, record.seq, &record.body) != record.hash {
            return Err(altered());
        }
        if !body_matches(record) {
            return Err(altered());
        }
        self.prev = Some(record.hash);
        self.expected_seq += 1;
        Ok(())
    }

    /// Checks that the chain reached its head.
    pub fn finish(&self, head: &ChainHead) -> Result<(), ChainFault> {
        let last_seq = self.expected_seq - 1;
        if last_seq != head.seq {
            return Err(ChainFault::Truncated {
                last_seq,
                head_seq: head.seq,
            });
        }
        if head.seq > head.pruned_through && self.prev != Some(head.hash) {
            return Err(ChainFault::Truncated {
                last_seq: last_seq.saturating_sub(1),
                head_seq: head.seq,
            });
        }
        Ok(())
    }
}

/// The indexed columns kept beside the text must say what the text says.
fn body_matches(record: &StoredAuditEvent) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&record.body) else {
        return false;
    };
    v.get("eventID").and_then(|e| e.as_str()) == Some(record.event_id.as_str())
}

/// A lookup: one account's records, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    pub account: String,
    /// At most one attribute, as CloudTrail allows.
    pub attribute: Option<(AuditAttribute, String)>,
    /// Inclusive bounds on the event time.
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    /// Continue strictly after this (time, seq) position (older records).
    pub after: Option<(Timestamp, u64)>,
    /// Walk no further than this (time, seq) position, inclusive (the oldest record the
    /// lookup may examine): how [`lookup_page`] bounds a walk by tags.
    pub down_to: Option<(Timestamp, u64)>,
    pub limit: usize,
}

impl AuditQuery {
    /// An account's newest `limit` records, with no other condition.
    pub fn newest(account: &str, limit: usize) -> Self {
        AuditQuery {
            account: account.to_owned(),
            attribute: None,
            start: None,
            end: None,
            after: None,
            down_to: None,
            limit,
        }
    }
}

/// A query's bounds as the SQL stores bind them, open ends as the extreme values: the account,
/// the time range (inclusive), the position to continue after (exclusive), the limit, and the
/// oldest position to examine (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlWindow<'a> {
    pub account: &'a str,
    pub start: i64,
    pub end: i64,
    pub after: (i64, i64),
    pub limit: i64,
    pub down_to: (i64, i64),
}

impl SqlWindow<'_> {
    /// The bounds in the order of the statement parameters after the account (2 to 8).
    pub fn values(&self) -> [&i64; 7] {
        [
            &self.start,
            &self.end,
            &self.after.0,
            &self.after.1,
            &self.limit,
            &self.down_to.0,
            &self.down_to.1,
        ]
    }
}

impl AuditQuery {
    /// The bounds of [`crate::store::Store::audit_nth`]'s walk: the query's without its
    /// `down_to`; None for a limit of 0 (no record is the 0th).
    pub fn nth_window(&self) -> Result<Option<SqlWindow<'_>>, crate::store::StoreError> {
        if self.limit == 0 {
            return Ok(None);
        }
        Ok(Some(SqlWindow {
            down_to: (i64::MIN, i64::MIN),
            ..self.sql_window()?
        }))
    }

    pub fn sql_window(&self) -> Result<SqlWindow<'_>, crate::store::StoreError> {
        let position = |p: Option<(Timestamp, u64)>, open| match p {
            Some((t, seq)) => i64::try_from(seq).map(|seq| (t.0, seq)).map_err(|_| {
                crate::store::StoreError::Backend(format!("audit sequence {seq} too large"))
            }),
            None => Ok(open),
        };
        Ok(SqlWindow {
            account: &self.account,
            start: self.start.map_or(i64::MIN, |t| t.0),
            end: self.end.map_or(i64::MAX, |t| t.0),
            after: position(self.after, (i64::MAX, i64::MAX))?,
            limit: i64::try_from(self.limit).unwrap_or(i64::MAX),
            down_to: position(self.down_to, (i64::MIN, i64::MIN))?,
        })
    }
}

/// Records a lookup by an attribute kept in the records' tags (see
/// [`AuditAttribute::is_indexed`]) examines per call, by default: such a walk reads every
/// record of its time range until it has a page, which for a rare value (ReadOnly=false in a
/// trail of Encrypts, EventSource of the other dialect) would be the whole trail in one call.
pub const DEFAULT_LOOKUP_SCAN: usize = 10_000;

/// One page of a lookup, and where the next one starts (None: the lookup is complete).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditPage {
    pub events: Vec<StoredAuditEvent>,
    pub resume: Option<(Timestamp, u64)>,
}

/// Records a walk by tags examines first: a common value fills its page among them, and
/// finding their end costs a short index walk rather than one of the whole bound.
const FIRST_SCAN: usize = 512;

/// Up to `query.limit` records of `query`, newest first, and the position the next page
/// continues after. A walk by tags examines at most `scan` records (the first
/// [`FIRST_SCAN`], then the rest if they did not fill the page): when they hold fewer than a
/// page, the page is short (possibly empty) and resumes where the walk stopped, as a paged API
/// may (CloudTrail's clients follow `NextToken` until there is none).
pub fn lookup_page(
    store: &dyn crate::store::Store,
    query: &AuditQuery,
    scan: usize,
) -> Result<AuditPage, crate::store::StoreError> {
    // More than a page resumes after its last event; otherwise where the walk stopped.
    let page = |mut events: Vec<StoredAuditEvent>, walked_to| {
        let resume = if events.len() > query.limit {
            events.truncate(query.limit);
            events.last().map(|e| (e.time, e.seq))
        } else {
            walked_to
        };
        AuditPage { events, resume }
    };
    let by_tags = match &query.attribute {
        _ if query.limit == 0 => return Ok(page(vec![], None)),
        // No record is found by such a value, and no store is asked.
        Some((_, value)) if !is_lookup_value(value) => return Ok(page(vec![], None)),
        Some((a, _)) if a.is_indexed() => false,
        // A value no tag can hold matches nothing: no walk at all.
        Some((a, value)) if a.tag(value).is_none() => return Ok(page(vec![], None)),
        Some(_) => true,
        None => false,
    };
    let whole = AuditQuery {
        down_to: None,
        limit: query.limit.saturating_add(1),
        ..query.clone()
    };
    if !by_tags {
        return Ok(page(store.audit_lookup(&whole)?, None));
    }
    let mut events = vec![];
    let mut after = query.after;
    let mut left = scan.max(1);
    let mut step = FIRST_SCAN;
    while left > 0 {
        let bound = step.min(left);
        left -= bound;
        // The first step is FIRST_SCAN records, the second the rest of the bound.
        step = left;
        let down_to = store.audit_nth(&AuditQuery {
            attribute: None,
            after,
            limit: bound,
            ..whole.clone()
        })?;
        events.extend(store.audit_lookup(&AuditQuery {
            after,
            down_to,
            limit: whole.limit - events.len(),
            ..whole.clone()
        })?);
        // A full page resumes below what it examined; a walk that reached the oldest record
        // ends the lookup.
        if events.len() >= query.limit || down_to.is_none() {
            return Ok(page(events, down_to));
        }
        after = down_to;
    }
    Ok(page(events, after))
}

/// Whether a record's body (CloudTrail's JSON as Trent renders it) names `region` as its
/// `awsRegion`, or names none: a request refused before it named a Region (an unsigned one
/// without a region claim) is listed in every Region, so that the account sees it wherever it
/// looks. The first `"awsRegion":` in the text is the member itself: a value holding those
/// characters has its quotes escaped.
pub fn recorded_in(body: &str, region: &str) -> bool {
    const MEMBER: &str = "\"awsRegion\":";
    let Some(at) = body.find(MEMBER) else {
        return false;
    };
    let rest = &body[at + MEMBER.len()..];
    let mut value = serde_json::Deserializer::from_str(rest).into_iter::<std::borrow::Cow<str>>();
    matches!(value.next(), Some(Ok(v)) if v == region || v.is_empty())
}

/// The most records a lookup in a Region reads from the store in one step.
const REGION_STEP: usize = 512;
/// The most bytes of records a lookup in a Region reads in one call (as well as at most `scan`
/// records): a Region with few records, or one nobody uses, costs a bounded read per page.
const REGION_READ_BYTES: usize = 4 * 1024 * 1024;

/// [`lookup_page`] of the records recorded in `region`: CloudTrail's event history is per
/// Region, so a LookupEvents sees the events of the Region it is called in. A lookup by an
/// indexed attribute or by time alone reads the account's records in steps and keeps those of
/// `region` until it has a page, the records end, or it has read `scan` records or
/// [`REGION_READ_BYTES`] of them (its steps shrink to what the bytes left hold of records of the
/// size seen); a lookup by an attribute kept in tags keeps those of `region` among what its own
/// walk finds. A page cut short resumes where it stopped, as [`lookup_page`]'s do.
pub fn lookup_in_region(
    store: &dyn crate::store::Store,
    query: &AuditQuery,
    region: &str,
    scan: usize,
) -> Result<AuditPage, crate::store::StoreError> {
    let by_tags = query
        .attribute
        .as_ref()
        .is_some_and(|(a, _)| !a.is_indexed());
    let mut events: Vec<StoredAuditEvent> = Vec::with_capacity(query.limit);
    let mut after = query.after;
    let mut left = scan.max(query.limit + 1);
    // A page's worth and one more first (enough when every record is of the Region, as in a
    // deployment that uses one), then twice as many a step up to REGION_STEP.
    let mut next_step = query.limit + 1;
    let (mut read, mut bytes) = (0usize, 0usize);
    loop {
        let step = if by_tags {
            query.limit
        } else {
            let fits = (REGION_READ_BYTES - bytes)
                .checked_div(bytes / read.max(1))
                .unwrap_or(usize::MAX);
            left.min(next_step).min(fits.max(1))
        };
        next_step = (next_step * 2).min(REGION_STEP.max(query.limit + 1));
        let page = lookup_page(
            store,
            &AuditQuery {
                after,
                limit: step,
                ..query.clone()
            },
            scan,
        )?;
        read += page.events.len();
        bytes += page.events.iter().map(|e| e.body.len()).sum::<usize>();
        left = if by_tags || bytes >= REGION_READ_BYTES {
            0
        } else {
            left.saturating_sub(step)
        };
        for e in page.events {
            if !recorded_in(&e.body, region) {
                continue;
            }
            if events.len() == query.limit {
                // One more than a page: the page resumes after its last event.
                let resume = events.last().map(|e| (e.time, e.seq));
                return Ok(AuditPage { events, resume });
            }
            events.push(e);
        }
        match page.resume {
            None => {
                return Ok(AuditPage {
                    events,
                    resume: None,
                })
            }
            Some(resume) if left == 0 => {
                return Ok(AuditPage {
                    events,
                    resume: Some(resume),
                })
            }
            Some(resume) => after = Some(resume),
        }
    }
}

/// A request's record, supplied by the server through the caller. The engine calls
/// [`AuditHook::record_for`] when it commits a change and adds the returned write to the same
/// batch; after the batch committed it calls [`AuditHook::committed`].
pub trait AuditHook: Send + Sync + std::fmt::Debug {
    /// The records of this request, given the change it is about to commit (the change shapes
    /// the records' response elements): one per account that receives it (the caller's, and
    /// the account of another account's key it used). Empty if they are already committed.
    fn record_for(&self, writes: &[Write]) -> Vec<AuditEvent>;
    /// The gate admitted a key of `account`, another account than the caller's: if the request
    /// succeeds, that account receives a copy of its record.
    fn used_key_of(&self, account: &str);
    /// The batch holding the record committed.
    fn committed(&self);
}

/// What `verify` found in one account's chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    pub account: String,
    /// Records checked.
    pub records: u64,
    /// The first fault, if any.
    pub fault: Option<ChainFault>,
}

/// Walks every account's chain in the store, in pages.
pub fn verify_store(
    store: &dyn crate::store::Store,
) -> Result<Vec<ChainReport>, crate::store::StoreError> {
    const PAGE: usize = 1000;
    let mut reports = Vec::new();
    for (account, head) in store.audit_heads()? {
        let mut verifier = ChainVerifier::new(&account, &head);
        let mut after = head.pruned_through;
        let mut records = 0;
        let mut fault = None;
        'walk: loop {
            let page = store.audit_chain(&account, after, PAGE)?;
            for record in &page {
                if let Err(f) = verifier.next(record) {
                    fault = Some(f);
                    break 'walk;
                }
                records += 1;
                after = record.seq;
            }
            if page.len() < PAGE {
                break;
            }
        }
        if fault.is_none() {
            fault = verifier.finish(&head).err();
        }
        reports.push(ChainReport {
            account,
            records,
            fault,
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: u64) -> (Vec<StoredAuditEvent>, ChainHead) {
        let mut prev = [0; 32];
        let mut out = vec![];
        for seq in 1..=n {
            let body = format!("{{\"eventID\":\"e{seq}\"}}");
            let hash = chain_hash(&prev, "a", seq, &body);
            out.push(StoredAuditEvent {
                account: "a".into(),
                seq,
                time: Timestamp(seq as i64),
                event_id: format!("e{seq}"),
                body,
                prev_hash: prev,
                hash,
            });
            prev = hash;
        }
        let head = ChainHead {
            seq: n,
            hash: prev,
            pruned_through: 0,
        };
        (out, head)
    }

    fn verify(records: &[StoredAuditEvent], head: &ChainHead) -> Result<(), ChainFault> {
        let mut v = ChainVerifier::new("a", head);
        for r in records {
            v.next(r)?;
        }
        v.finish(head)
    }

    #[test]
    fn an_intact_chain_verifies_and_every_tampering_is_caught() {
        let (records, head) = chain(5);
        assert_eq!(verify(&records, &head), Ok(()));

        let mut altered = records.clone();
        altered[2].body = altered[2].body.replace('}', ",\"x\":1}");
        assert!(matches!(
            verify(&altered, &head),
            Err(ChainFault::Altered { seq: 3, .. })
        ));

        let mut removed = records.clone();
        removed.remove(1);
        assert!(matches!(
            verify(&removed, &head),
            Err(ChainFault::Missing {
                expected_seq: 2,
                found_seq: 3
            })
        ));

        let mut swapped = records.clone();
        swapped.swap(1, 2);
        let (a, b) = (swapped[1].seq, swapped[2].seq);
        swapped[1].seq = b;
        swapped[2].seq = a;
        assert!(verify(&swapped, &head).is_err());

        assert!(matches!(
            verify(&records[..4], &head),
            Err(ChainFault::Truncated { .. })
        ));

        // A pruned prefix is fine when the head says so, not otherwise.
        let pruned_head = ChainHead {
            pruned_through: 2,
            ..head
        };
        assert_eq!(verify(&records[2..], &pruned_head), Ok(()));
        assert!(verify(&records[2..], &head).is_err());
    }

    #[test]
    fn tags_hold_the_unindexed_attributes_and_match_exactly() {
        use AuditAttribute::*;
        let t = tags([
            (EventId, "e1"),
            (ReadOnly, "true"),
            (EventSource, "kms.amazonaws.com"),
            (ResourceType, "AWS::KMS::Key"),
            (ResourceName, "arn:aws:kms:us-east-1:000000000000:key/k"),
        ]);
        assert_eq!(
            t,
            "\nReadOnly=true\nEventSource=kms.amazonaws.com\nResourceType=AWS::KMS::Key\n"
        );
        let has = |a: AuditAttribute, v: &str| a.tag(v).is_some_and(|tag| t.contains(&tag));
        assert!(has(ReadOnly, "true"));
        assert!(has(ResourceType, "AWS::KMS::Key"));
        assert!(!has(ReadOnly, "tru"));
        assert!(!has(ReadOnly, "false"));
        assert!(!has(EventSource, "kms.amazonaws.co"));
        // A value spanning two tags is no value.
        assert!(!has(ReadOnly, "true\nEventSource=kms.amazonaws.com"));
        assert_eq!(tags([(EventId, "e1")]), "");
        assert!(
            AuditAttribute::ALL
                .iter()
                .filter(|a| !a.is_indexed())
                .count()
                == 3
        );
    }
}
