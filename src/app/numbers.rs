//! Buying, changing and releasing tracked numbers: Twilio and the database together, used by
//! the API and by `calltrack numbers`. No database transaction is held open across a call to
//! Twilio; a number Twilio sold but the database could not store is released again, or owed
//! in `number_releases_pending` until a retry releases it. A purchase whose answer was lost
//! (a timeout, a broken connection) is looked up at Twilio by its own friendly name and
//! adopted as if Twilio had answered.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::routing::RoutingCopy;
use super::{Caller, begin, commit, connection};
use crate::db::numbers::NewNumber;

/// A tracked number as the use cases return it.
pub use crate::db::numbers::TrackedNumber;
use crate::db::routing::{NumberRoute, RoutingVersion};
use crate::db::{self, PgPool, access, stats};
use crate::domain::{E164, FlowChange};
use crate::twilio::PublicBaseUrl;
use crate::twilio::client::{
    FailureKind, IncomingNumber, NumberChoice, NumberWebhooks, TwilioClient, TwilioError,
};
use crate::twilio::fallback;

/// The unique index that keeps one active tracked number per phone number.
const ONE_ACTIVE_NUMBER: &str = "tracked_phone_numbers_active_phone_number_key";

#[derive(Debug, thiserror::Error)]
pub enum NumbersError {
    #[error("{0}")]
    Invalid(String),
    #[error("not found")]
    NotFound,
    #[error("a number cannot forward calls to itself")]
    ForwardToSelf,
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Twilio(#[from] TwilioError),
    /// Twilio's answer to a purchase was lost and no number from it turned up at Twilio.
    #[error(
        "Twilio did not confirm the purchase and shows no number bought by it; nothing was \
         stored (look for the friendly name \"{friendly_name}\" in Twilio's console)"
    )]
    PurchaseUnknown { friendly_name: String },
    #[error(transparent)]
    Db(#[from] db::Error),
}

/// What a manager asks to buy.
#[derive(Debug, Clone)]
pub struct BuyRequest {
    pub choice: NumberChoice,
    pub forward_to: E164,
    /// The call flow to start with (empty: the default).
    pub flow: FlowChange,
}

impl BuyRequest {
    /// Validates the raw fields: exactly one of area code or phone number, an E.164
    /// forward-to number that is not the number itself.
    pub fn parse(
        area_code: Option<&str>,
        phone_number: Option<&str>,
        forward_to: &str,
    ) -> Result<Self, NumbersError> {
        let forward_to = E164::parse(forward_to)
            .map_err(|_| NumbersError::Invalid("forward_to_number is not a phone number".into()))?;
        let choice = match (area_code.map(str::trim), phone_number) {
            (Some(code), None) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) => {
                NumberChoice::AreaCode(code.to_owned())
            }
            (Some(_), None) => {
                return Err(NumbersError::Invalid(
                    "area_code must be three digits".into(),
                ));
            }
            (None, Some(number)) => NumberChoice::Exact(
                E164::parse(number)
                    .map_err(|_| {
                        NumbersError::Invalid("phone_number is not a phone number".into())
                    })?
                    .to_string(),
            ),
            _ => {
                return Err(NumbersError::Invalid(
                    "give exactly one of area_code and phone_number".into(),
                ));
            }
        };
        if choice == NumberChoice::Exact(forward_to.to_string()) {
            return Err(NumbersError::ForwardToSelf);
        }
        Ok(Self {
            choice,
            forward_to,
            flow: FlowChange::default(),
        })
    }
}

/// A friendly name of this purchase attempt's own (Twilio allows 64 characters): the campaign
/// and 48 random bits, so a lookup by it finds what this attempt bought and nothing else.
fn purchase_name(campaign_id: Uuid) -> String {
    let attempt = Uuid::new_v4().simple().to_string();
    format!("calltrack {campaign_id} #{}", &attempt[..12])
}

/// What the number use cases below run against: the database, the Twilio account, the base
/// URL numbers are pointed at and the routing copy. Built once at start-up.
#[derive(Clone)]
pub struct Numbers {
    pub pool: PgPool,
    pub twilio: TwilioClient,
    pub public_base_url: PublicBaseUrl,
    /// This process's routing copy, which learns each committed change before the request
    /// answers; `None` where no calls are taken (the command line).
    pub routing: Option<Arc<RoutingCopy>>,
}

/// A number's route as a change left it, and the version its commit publishes.
type ChangedRoute = Option<(RoutingVersion, NumberRoute)>;

/// The campaign's tracked numbers; a campaign the caller may not see is `NotFound`.
pub async fn list(
    numbers: &Numbers,
    actor: Caller<'_>,
    campaign_id: Uuid,
) -> Result<Vec<TrackedNumber>, NumbersError> {
    numbers.check_campaign(actor, campaign_id).await?;
    let mut conn = connection(&numbers.pool).await?;
    let tx = begin(&mut conn, actor).await?;
    let list = db::numbers::list_for_campaign(&tx, campaign_id).await?;
    commit(tx).await?;
    Ok(list)
}

/// Buys a number at Twilio pointed at this service and stores it for the campaign.
#[tracing::instrument(skip_all, fields(campaign.id = %campaign_id))]
pub async fn buy(
    numbers: &Numbers,
    actor: Caller<'_>,
    campaign_id: Uuid,
    request: &BuyRequest,
) -> Result<TrackedNumber, NumbersError> {
    numbers.check_campaign(actor, campaign_id).await?;
    if let NumberChoice::Exact(number) = &request.choice {
        let conn = connection(&numbers.pool).await?;
        if db::numbers::active_number_exists(&conn, number).await? {
            return Err(NumbersError::Conflict(
                "that number is already an active tracked number",
            ));
        }
    }
    let friendly_name = purchase_name(campaign_id);
    let bought = match numbers
        .twilio
        .buy_number(
            &request.choice,
            &numbers.webhooks(&request.forward_to),
            &friendly_name,
        )
        .await
    {
        Ok(bought) => bought,
        Err(error) if error.kind() == FailureKind::Uncertain => {
            tracing::warn!(%error, "the purchase's outcome is unknown; looking for it at Twilio");
            numbers
                .find_purchase(&request.choice, &friendly_name)
                .await?
        }
        Err(error) => return Err(error.into()),
    };
    if bought.phone_number == request.forward_to.as_str() {
        numbers
            .give_back(
                &bought.sid,
                &bought.phone_number,
                "forward-to number is the number itself",
            )
            .await;
        return Err(NumbersError::ForwardToSelf);
    }
    let new = NewNumber {
        campaign_id,
        phone_number: &bought.phone_number,
        forward_to_number: request.forward_to.as_str(),
        provider_sid: &bought.sid,
        friendly_name: bought.friendly_name.as_deref(),
    };
    match numbers.store(actor, &new, &request.flow).await {
        Ok(stored) => Ok(stored),
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), number.sid = %bought.sid, "storing a bought number failed; releasing it");
            numbers
                .give_back(&bought.sid, &bought.phone_number, "storing the row failed")
                .await;
            if error.is_conflict_on(ONE_ACTIVE_NUMBER) {
                Err(NumbersError::Conflict(
                    "that number is already an active tracked number",
                ))
            } else {
                Err(NumbersError::Db(error))
            }
        }
    }
}

/// Changes where calls go and/or switches the number on or off. A new forward-to number,
/// or switching the number back on, re-points it at Twilio first (its fallback URL carries
/// the forward-to number), so a refusal from Twilio changes nothing here. If the database
/// then fails, Twilio is pointed back at the stored forward-to number.
pub async fn update(
    numbers: &Numbers,
    actor: Caller<'_>,
    id: Uuid,
    forward_to: Option<&str>,
    is_active: Option<bool>,
    flow: &FlowChange,
) -> Result<TrackedNumber, NumbersError> {
    let current = numbers.visible_number(actor, id).await?;
    let forward_to = forward_to
        .map(|f| {
            E164::parse(f).map_err(|_| {
                NumbersError::Invalid("forward_to_number is not a phone number".into())
            })
        })
        .transpose()?;
    if forward_to
        .as_ref()
        .is_some_and(|f| f.as_str() == current.phone_number)
    {
        return Err(NumbersError::ForwardToSelf);
    }
    let switching_on = is_active == Some(true) && !current.is_active;
    if switching_on && current.released_at.is_some() {
        return Err(NumbersError::Conflict(
            "a released number cannot be switched on again; buy a new one",
        ));
    }
    let repointed = if switching_on || forward_to.is_some() {
        numbers.repoint(&current, forward_to.as_ref()).await?
    } else {
        None
    };
    match numbers
        .store_update(actor, id, forward_to.as_ref(), is_active, flow)
        .await
    {
        Ok(updated) => Ok(updated),
        Err(error) => {
            let moved = forward_to
                .as_ref()
                .is_some_and(|f| f.as_str() != current.forward_to_number);
            if let (Some(sid), true) = (repointed, moved) {
                numbers.point_back(sid, &current).await;
            }
            Err(error)
        }
    }
}

/// Releases the number at Twilio and keeps the row, inactive, for history.
pub async fn release(
    numbers: &Numbers,
    actor: Caller<'_>,
    id: Uuid,
) -> Result<TrackedNumber, NumbersError> {
    let current = numbers.visible_number(actor, id).await?;
    if current.released_at.is_some() {
        return Ok(current);
    }
    if let Some(sid) = &current.provider_sid {
        numbers.twilio.release_number(sid).await?;
    }
    let mut conn = connection(&numbers.pool).await?;
    let tx = begin(&mut conn, actor).await?;
    let released = db::numbers::mark_released(&tx, id).await?;
    let route = numbers
        .route_after_change(&tx, &released.phone_number)
        .await?;
    commit(tx).await?;
    numbers.learn(route).await;
    Ok(released)
}

/// Retries the releases owed for numbers that could not be stored; returns how many
/// were released now.
pub async fn settle_owed_releases(numbers: &Numbers) -> db::Result<usize> {
    let conn = connection(&numbers.pool).await?;
    let owed = db::numbers::owed_releases(&conn, 50).await?;
    let mut released = 0;
    for sid in owed {
        let outcome = numbers.twilio.release_number(&sid).await;
        let error = outcome.as_ref().err().map(ToString::to_string);
        db::numbers::release_attempted(&conn, &sid, error.as_deref()).await?;
        if outcome.is_ok() {
            released += 1;
        }
    }
    Ok(released)
}

impl Numbers {
    /// Where a number forwarding to `forward_to` sends its calls; its fallback forwards there
    /// too, without the database.
    fn webhooks(&self, forward_to: &E164) -> NumberWebhooks {
        NumberWebhooks {
            voice_url: self.public_base_url.join("/twilio/voice"),
            status_callback: self.public_base_url.join("/twilio/status"),
            voice_fallback_url: fallback::url(&self.public_base_url, forward_to),
        }
    }

    /// Checks the campaign exists and the actor may see it.
    async fn check_campaign(
        &self,
        actor: Caller<'_>,
        campaign_id: Uuid,
    ) -> Result<(), NumbersError> {
        let mut conn = connection(&self.pool).await?;
        let tx = begin(&mut conn, actor).await?;
        let client = stats::campaign_client(&tx, campaign_id).await?;
        commit(tx).await?;
        match client {
            Some(client) if actor.sees(client) => Ok(()),
            _ => Err(NumbersError::NotFound),
        }
    }

    /// Looks for the number a purchase named `friendly_name` bought, a few times: Twilio may
    /// still be finishing the purchase whose answer was lost. The pauses follow the client's
    /// own patience. More than one number under the name (never seen) keeps the first and
    /// gives the others back.
    async fn find_purchase(
        &self,
        choice: &NumberChoice,
        friendly_name: &str,
    ) -> Result<IncomingNumber, NumbersError> {
        let exact = match choice {
            NumberChoice::Exact(number) => Some(number.as_str()),
            NumberChoice::AreaCode(_) => None,
        };
        let patience = self.twilio.request_timeout();
        for pause in [Duration::ZERO, patience / 10, patience * 3 / 10] {
            tokio::time::sleep(pause).await;
            match self.twilio.find_numbers(friendly_name, exact).await {
                Ok(found) => {
                    let mut found = found.into_iter();
                    if let Some(kept) = found.next() {
                        for extra in found {
                            self.give_back(
                                &extra.sid,
                                &extra.phone_number,
                                "a second number under one purchase",
                            )
                            .await;
                        }
                        tracing::info!(number.sid = %kept.sid, "the purchase went through at Twilio; adopting it");
                        return Ok(kept);
                    }
                }
                Err(error) => tracing::warn!(%error, "looking for the purchase at Twilio failed"),
            }
        }
        tracing::error!(
            friendly_name,
            "a purchase's outcome stays unknown: if Twilio shows a number with this friendly name, release it or track it by hand"
        );
        Err(NumbersError::PurchaseUnknown {
            friendly_name: friendly_name.to_owned(),
        })
    }

    async fn store(
        &self,
        actor: Caller<'_>,
        new: &NewNumber<'_>,
        flow: &FlowChange,
    ) -> db::Result<TrackedNumber> {
        let mut conn = connection(&self.pool).await?;
        let tx = begin(&mut conn, actor).await?;
        let mut stored = db::numbers::insert(&tx, new).await?;
        if !flow.is_empty() {
            stored = db::numbers::set_flow(&tx, stored.id, flow).await?;
        }
        let route = self.route_after_change(&tx, &stored.phone_number).await?;
        commit(tx).await?;
        self.learn(route).await;
        Ok(stored)
    }

    /// The route the transaction's change leaves `phone_number` with, read just before its
    /// commit; nothing without a routing copy to teach.
    async fn route_after_change(
        &self,
        tx: &deadpool_postgres::Transaction<'_>,
        phone_number: &str,
    ) -> db::Result<ChangedRoute> {
        if self.routing.is_none() {
            return Ok(None);
        }
        // The caller's access was checked and the change is made; what decides the route (the
        // version row, the number's rows of other clients) is the service's to read.
        access::unrestrict(tx).await?;
        let (version, route) = db::routing::route_of(tx, phone_number).await?;
        Ok(route.map(|route| (version, route)))
    }

    /// Teaches the routing copy a committed change, and writes its snapshot, before the
    /// request answers: the next call to this process is forwarded by the change whatever the
    /// database does, even after a restart.
    async fn learn(&self, changed: ChangedRoute) {
        let (Some(copy), Some((version, route))) = (&self.routing, changed) else {
            return;
        };
        if copy.learn(version, route)
            && let Err(error) = copy.save().await
        {
            // The refresh worker tries again on its next tick.
            tracing::warn!(%error, "routing snapshot not written after a change");
        }
    }

    /// Releases a number Twilio sold us that we could not keep; if Twilio cannot be reached,
    /// the release is owed and retried later.
    async fn give_back(&self, sid: &str, phone_number: &str, reason: &str) {
        if let Err(error) = self.twilio.release_number(sid).await {
            tracing::error!(%error, number.sid = %sid, "releasing failed; recording it as owed");
            let owed = match connection(&self.pool).await {
                Ok(conn) => db::numbers::owe_release(&conn, sid, phone_number, reason).await,
                Err(e) => Err(e),
            };
            if let Err(error) = owed {
                tracing::error!(error = format!("{error:#}"), number.sid = %sid, "cannot record the owed release: release this number by hand");
            }
        }
    }

    /// Loads a number the actor may change.
    async fn visible_number(
        &self,
        actor: Caller<'_>,
        id: Uuid,
    ) -> Result<TrackedNumber, NumbersError> {
        let mut conn = connection(&self.pool).await?;
        let tx = begin(&mut conn, actor).await?;
        let found = db::numbers::get(&tx, id).await?;
        commit(tx).await?;
        match found {
            Some((number, client)) if actor.sees(client) => Ok(number),
            _ => Err(NumbersError::NotFound),
        }
    }

    /// Points the number at this service at Twilio, its fallback forwarding to `forward_to`
    /// (or, when `None`, to the stored forward-to number). Returns the SID re-pointed; `None`
    /// when Twilio holds no such number (released, or never bought through Twilio).
    async fn repoint<'n>(
        &self,
        current: &'n TrackedNumber,
        forward_to: Option<&E164>,
    ) -> Result<Option<&'n str>, NumbersError> {
        let Some(sid) = current.provider_sid.as_deref() else {
            return Ok(None);
        };
        if current.released_at.is_some() {
            return Ok(None);
        }
        let forward_to = match forward_to {
            Some(forward_to) => forward_to.clone(),
            None => E164::parse(&current.forward_to_number).map_err(|_| {
                NumbersError::Invalid(
                    "the stored forward_to_number is not a phone number; give a new one".into(),
                )
            })?,
        };
        self.twilio
            .update_number(sid, &self.webhooks(&forward_to))
            .await?;
        Ok(Some(sid))
    }

    /// Undoes a re-pointing whose database write failed, so Twilio's fallback forwards where
    /// the stored row says; if that fails too, the disagreement is logged for an operator.
    async fn point_back(&self, sid: &str, current: &TrackedNumber) {
        let restored = match E164::parse(&current.forward_to_number) {
            Ok(forward_to) => self
                .twilio
                .update_number(sid, &self.webhooks(&forward_to))
                .await
                .map(drop)
                .map_err(|error| error.to_string()),
            Err(error) => Err(error.to_string()),
        };
        if let Err(error) = restored {
            tracing::error!(
                %error,
                number.sid = %sid,
                "the number's fallback at Twilio no longer matches its stored forward-to number: PATCH the number again"
            );
        }
    }

    /// Writes the change; a clash with another active number is a conflict.
    async fn store_update(
        &self,
        actor: Caller<'_>,
        id: Uuid,
        forward_to: Option<&E164>,
        is_active: Option<bool>,
        flow: &FlowChange,
    ) -> Result<TrackedNumber, NumbersError> {
        let mut conn = connection(&self.pool).await?;
        let tx = begin(&mut conn, actor).await?;
        let updated =
            match db::numbers::update(&tx, id, forward_to.map(E164::as_str), is_active).await {
                Ok(updated) => updated,
                Err(error) if error.is_conflict_on(ONE_ACTIVE_NUMBER) => {
                    return Err(NumbersError::Conflict(
                        "another active tracked number has that number",
                    ));
                }
                Err(error) => return Err(error.into()),
            };
        let updated = if flow.is_empty() {
            updated
        } else {
            db::numbers::set_flow(&tx, id, flow).await?
        };
        let route = self.route_after_change(&tx, &updated.phone_number).await?;
        commit(tx).await?;
        self.learn(route).await;
        Ok(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_purchase_attempt_has_a_friendly_name_of_its_own_within_twilios_limit() {
        let campaign = Uuid::new_v4();
        let (first, second) = (purchase_name(campaign), purchase_name(campaign));
        assert_ne!(first, second);
        assert!(first.len() <= 64, "{first}");
        assert!(first.starts_with(&format!("calltrack {campaign} #")));
    }

    #[test]
    fn a_buy_request_needs_exactly_one_way_to_choose_and_a_real_forward_number() {
        assert!(BuyRequest::parse(Some("415"), None, "+14155550199").is_ok());
        assert!(BuyRequest::parse(None, Some("+1 (415) 555-0123"), "+14155550199").is_ok());
        for (area, number, forward) in [
            (Some("415"), Some("+14155550123"), "+14155550199"),
            (None, None, "+14155550199"),
            (Some("41"), None, "+14155550199"),
            (Some("415"), None, "not a number"),
            (None, Some("garbage"), "+14155550199"),
        ] {
            assert!(matches!(
                BuyRequest::parse(area, number, forward),
                Err(NumbersError::Invalid(_))
            ));
        }
        assert!(matches!(
            BuyRequest::parse(None, Some("+14155550199"), "(415) 555-0199"),
            Err(NumbersError::ForwardToSelf)
        ));
    }
}
