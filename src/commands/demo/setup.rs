//! The demo's campaign, set up the way a manager would without SQL: every step a call of the
//! manager API, as a company owner of the demo client, each printed on the timeline.

use anyhow::Context as _;
use serde_json::{Value, json};
use uuid::Uuid;

/// A company owner's session with the manager API of the running demo.
pub struct ManagerApi<'a> {
    pub http: &'a reqwest::Client,
    /// `http://127.0.0.1:PORT`.
    pub base: &'a str,
    pub token: &'a str,
    /// Called with each exchange: method, path, status.
    pub report: &'a dyn Fn(&str, &str, u16),
}

impl ManagerApi<'_> {
    /// Sends one request and hands back the answer's JSON; a refusal ends the demo with the
    /// API's own words.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Body<'_>,
    ) -> anyhow::Result<Value> {
        let request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(self.token);
        let request = match body {
            Body::Empty => request,
            Body::Json(value) => request.json(value),
            Body::Csv(text) => request
                .header(reqwest::header::CONTENT_TYPE, "text/csv")
                .body(text.to_owned()),
        };
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path} failed"))?;
        let status = response.status();
        (self.report)(method.as_str(), path, status.as_u16());
        let answer: Value = response
            .json()
            .await
            .with_context(|| format!("{method} {path} answered no JSON"))?;
        anyhow::ensure!(
            status.is_success(),
            "{method} {path} was refused ({status}): {answer}"
        );
        Ok(answer)
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Body::Json(body))
            .await
    }

    async fn put(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::PUT, path, Body::Json(body))
            .await
    }

    async fn post_csv(&self, path: &str, csv: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Body::Csv(csv)).await
    }
}

enum Body<'a> {
    Empty,
    Json(&'a Value),
    Csv(&'a str),
}

/// What the demo's campaign is made of.
pub struct DemoCampaign<'a> {
    pub mail_date: chrono::NaiveDate,
    /// `first_name,last_name,phone,redemption_code` lines, header included.
    pub recipients_csv: &'a str,
    /// `card_code,pin_code,value_amount` lines, header included.
    pub cards_csv: &'a str,
    pub tracked: &'a str,
    pub business: &'a str,
}

/// What the setup made.
pub struct Made {
    pub campaign_id: Uuid,
    pub tracked_number_id: Uuid,
    pub recipients_added: u64,
    pub cards_added: u64,
}

const THANKS_FOR_BOOKING: &str = "Hi {first_name}, thanks for booking your roof inspection! \
     Your {brand} gift card worth ${value}: {card_code} PIN {pin_code}";
const THANKS_FOR_CALLING: &str = "Hi {first_name}, thanks for calling us! Your {brand} gift card worth ${value}: {card_code} PIN {pin_code}";
/// Condition 3's call rule: met by the call itself after this much talk.
pub const CALL_RULE_SECONDS: i64 = 30;

/// Creates the campaign, imports its recipients, makes a pool and loads its cards, defines the
/// three conditions (rewards on 1 and 3) and buys the tracked number.
pub async fn campaign(api: &ManagerApi<'_>, demo: &DemoCampaign<'_>) -> anyhow::Result<Made> {
    let campaign = api
        .post(
            "/api/v1/campaigns",
            &json!({"name": "Spring roof check", "status": "mailed", "mail_date": demo.mail_date}),
        )
        .await?;
    let campaign_id = id_of(&campaign)?;
    let imported = api
        .post_csv(
            &format!("/api/v1/campaigns/{campaign_id}/recipients"),
            demo.recipients_csv,
        )
        .await?;
    let pool = api
        .post(
            "/api/v1/gift-card-pools",
            &json!({"pool_name": "Amazon $25", "brand_name": "Amazon", "value_amount": "25.00"}),
        )
        .await?;
    let pool_id = id_of(&pool)?;
    let loaded = api
        .post_csv(
            &format!("/api/v1/gift-card-pools/{pool_id}/cards"),
            demo.cards_csv,
        )
        .await?;
    let reward = |template: &str| {
        json!({"gift_card_pool_id": pool_id, "reward_description": "$25 Amazon gift card",
               "sms_template": template})
    };
    for (number, body) in [
        (
            1,
            json!({"condition_name": "Booked a roof inspection", "trigger_type": "call",
                   "reward": reward(THANKS_FOR_BOOKING)}),
        ),
        (
            2,
            json!({"condition_name": "Signed a contract", "trigger_type": "call"}),
        ),
        (
            3,
            json!({"condition_name": "Talked with us for half a minute", "trigger_type": "call",
                   "reward": reward(THANKS_FOR_CALLING)}),
        ),
    ] {
        api.put(
            &format!("/api/v1/campaigns/{campaign_id}/conditions/{number}"),
            &body,
        )
        .await?;
    }
    let number = api
        .post(
            &format!("/api/v1/campaigns/{campaign_id}/tracked-numbers"),
            &json!({"phone_number": demo.tracked, "forward_to_number": demo.business}),
        )
        .await?;
    Ok(Made {
        campaign_id,
        tracked_number_id: id_of(&number)?,
        recipients_added: imported["added"].as_u64().unwrap_or_default(),
        cards_added: loaded["added"].as_u64().unwrap_or_default(),
    })
}

/// Gives condition 3 its call rule. Done after the week of history is written, so the
/// history's answered calls do not meet it and take the tour's cards.
pub async fn enable_call_rule(api: &ManagerApi<'_>, campaign_id: Uuid) -> anyhow::Result<()> {
    api.put(
        &format!("/api/v1/campaigns/{campaign_id}/conditions/3"),
        &json!({"condition_name": "Talked with us for half a minute", "trigger_type": "call",
                "auto_min_talk_seconds": CALL_RULE_SECONDS,
                "reward": {"gift_card_pool_id": pool_of_condition(api, campaign_id, 1).await?,
                           "reward_description": "$25 Amazon gift card",
                           "sms_template": THANKS_FOR_CALLING}}),
    )
    .await?;
    Ok(())
}

/// The pool of condition `number`'s reward, as the conditions list shows it.
async fn pool_of_condition(
    api: &ManagerApi<'_>,
    campaign_id: Uuid,
    number: i64,
) -> anyhow::Result<Value> {
    let list = api
        .send(
            reqwest::Method::GET,
            &format!("/api/v1/campaigns/{campaign_id}/conditions"),
            Body::Empty,
        )
        .await?;
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["condition_number"].as_i64() == Some(number))
        .map(|c| c["reward"]["gift_card_pool_id"].clone())
        .filter(|pool| pool.is_string())
        .with_context(|| format!("condition {number} has no reward pool"))
}

fn id_of(resource: &Value) -> anyhow::Result<Uuid> {
    resource["id"]
        .as_str()
        .and_then(|id| Uuid::parse_str(id).ok())
        .with_context(|| format!("no id in {resource}"))
}
