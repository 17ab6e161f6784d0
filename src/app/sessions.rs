//! Call sessions for agents: the list, one session in full, linking a recipient by code.

use uuid::Uuid;

use super::{Caller, begin, commit, connection};
use crate::auth::Principal;
use crate::db::sessions::{self, Linked, ListPlan};
use crate::db::{self, PgPool, access};

/// What the use cases read, as the routes receive it.
pub use crate::db::rewards::{ConditionMet, RewardStatus};
pub use crate::db::sessions::{CallSession, Condition, Recipient, SessionFilter};

/// A session with everything an agent needs on screen.
#[derive(Debug, Clone)]
pub struct SessionDetail {
    pub session: CallSession,
    pub recipient: Option<Recipient>,
    /// The campaign's active conditions.
    pub conditions: Vec<Condition>,
    /// The conditions the recipient has met, with their reward and delivery state.
    pub conditions_met: Vec<ConditionMet>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no such call session")]
    NotFound,
    #[error("no recipient of this campaign has that redemption code")]
    UnknownCode,
    #[error("the call is already linked to another recipient")]
    AlreadyLinked,
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// One page of the caller's sessions, newest first, and whether more follow.
pub async fn list(
    pool: &PgPool,
    principal: &Principal,
    filter: &SessionFilter,
) -> Result<(Vec<CallSession>, bool), SessionError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let plan = ListPlan::for_scope(&principal.scope, filter);
    let page = sessions::list(&tx, plan, filter).await?;
    commit(tx).await?;
    Ok(page)
}

/// One session the caller may see, in full.
pub async fn detail(
    pool: &PgPool,
    principal: &Principal,
    id: Uuid,
) -> Result<SessionDetail, SessionError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    let session = visible(&tx, principal, id).await?;
    let detail = detail_of(&tx, session).await?;
    commit(tx).await?;
    Ok(detail)
}

/// Links an unmatched call to the campaign's recipient with `redemption_code` and audits it.
pub async fn link_recipient(
    pool: &PgPool,
    principal: &Principal,
    id: Uuid,
    redemption_code: &str,
) -> Result<SessionDetail, SessionError> {
    let mut conn = connection(pool).await?;
    let tx = begin(&mut conn, Caller::Api(principal)).await?;
    visible(&tx, principal, id).await?;
    let recipient_id = match sessions::link_recipient(&tx, id, redemption_code).await? {
        Linked::Recipient(recipient_id) => recipient_id,
        Linked::UnknownCode => return Err(SessionError::UnknownCode),
        Linked::ToAnother => return Err(SessionError::AlreadyLinked),
    };
    access::audit(
        &tx,
        principal.user_id(),
        principal.api_client_id(),
        "recipient_linked",
        "call_session",
        id,
        &serde_json::json!({ "recipient_id": recipient_id }),
    )
    .await?;
    let session = visible(&tx, principal, id).await?;
    let detail = detail_of(&tx, session).await?;
    commit(tx).await?;
    Ok(detail)
}

/// Loads a session the principal may see: row-level security hides other clients'
/// sessions, and the explicit scope check stands behind it.
pub(super) async fn visible(
    tx: &impl deadpool_postgres::GenericClient,
    principal: &Principal,
    id: Uuid,
) -> Result<CallSession, SessionError> {
    sessions::get(tx, id)
        .await?
        .filter(|s| principal.scope.allows(s.client_id))
        .ok_or(SessionError::NotFound)
}

async fn detail_of(
    tx: &impl deadpool_postgres::GenericClient,
    session: CallSession,
) -> db::Result<SessionDetail> {
    let (recipient, conditions_met, due) = match session.recipient_id {
        Some(id) => (
            sessions::recipient(tx, id).await?,
            sessions::conditions_met(tx, id).await?,
            crate::db::rewards::due_times(tx, id).await?,
        ),
        None => (None, Vec::new(), Vec::new()),
    };
    let mut conditions = sessions::active_conditions(tx, session.campaign_id).await?;
    for condition in &mut conditions {
        condition.due_at = due
            .iter()
            .find(|(number, _)| *number == condition.condition_number)
            .map(|(_, at)| *at);
    }
    Ok(SessionDetail {
        session,
        recipient,
        conditions,
        conditions_met,
    })
}

/// A campaign's sessions read page by page for an export: each page is its own short
/// transaction, and the keyset cursor (created_at, id) carries on where the last one ended,
/// so no transaction or snapshot is held while the client downloads. The next page is read
/// while the caller writes out the current one: the database's work and the service's
/// overlap.
#[derive(Debug)]
pub struct Export {
    pool: PgPool,
    principal: Principal,
    filter: SessionFilter,
    next: Option<tokio::task::JoinHandle<Result<Page, SessionError>>>,
}

/// A page of sessions and whether more follow.
type Page = (Vec<CallSession>, bool);

/// How many sessions one page of an export reads: enough that a page's own costs (a pooled
/// connection, a transaction, the caller's scope) are small beside its rows (at 500 they
/// held the export of a 2,000,000-call campaign near 55,000 rows a second), few enough that
/// memory stays flat (a page is about 2 MB of CSV, and two are in hand at most).
pub const EXPORT_PAGE: i64 = 5_000;

impl Export {
    /// Checks the caller may see the campaign (else `NotFound`), before anything is sent.
    pub async fn start(
        pool: &PgPool,
        principal: &Principal,
        campaign_id: Uuid,
        mut filter: SessionFilter,
    ) -> Result<Self, SessionError> {
        let mut conn = connection(pool).await?;
        let tx = begin(&mut conn, Caller::Api(principal)).await?;
        crate::db::stats::campaign_client(&tx, campaign_id)
            .await?
            .filter(|client| principal.scope.allows(*client))
            .ok_or(SessionError::NotFound)?;
        commit(tx).await?;
        filter.campaign_id = Some(campaign_id);
        filter.before = None;
        filter.limit = EXPORT_PAGE;
        let mut export = Self {
            pool: pool.clone(),
            principal: principal.clone(),
            filter,
            next: None,
        };
        export.read_ahead();
        Ok(export)
    }

    /// Starts reading the page after the cursor.
    fn read_ahead(&mut self) {
        let (pool, principal, filter) = (
            self.pool.clone(),
            self.principal.clone(),
            self.filter.clone(),
        );
        self.next = Some(tokio::spawn(async move {
            list(&pool, &principal, &filter).await
        }));
    }

    /// The next page, newest first; `None` once every session was read.
    pub async fn next_page(&mut self) -> Result<Option<Vec<CallSession>>, SessionError> {
        let Some(reading) = self.next.take() else {
            return Ok(None);
        };
        let (page, more) = reading.await.map_err(|e| db::Error::Other {
            context: "reading a page of the export stopped",
            source: Box::new(e),
        })??;
        if more && let Some(last) = page.last() {
            self.filter.before = Some((last.created_at, last.id));
            self.read_ahead();
        }
        Ok((!page.is_empty()).then_some(page))
    }
}

impl Drop for Export {
    /// A client that went away leaves no read running.
    fn drop(&mut self) {
        if let Some(reading) = self.next.take() {
            reading.abort();
        }
    }
}
