//! A campaign world for the JSON API tests: users with roles, conditions, rewards, cards.

use calltrack::config::parse_gift_card_key;
use calltrack::crypto::CardCipher;
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{Campaign, TestApp};

pub const JWT_SECRET: &str = "test-jwt-secret";
pub const GIFT_CARD_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const CALLER: &str = "+14155550100";

pub fn cipher() -> CardCipher {
    CardCipher::new(&parse_gift_card_key(GIFT_CARD_KEY).unwrap())
}

/// A platform access token for `user_id`, expiring `exp_offset` seconds from now.
pub fn token_with(user_id: Uuid, secret: &str, exp_offset: i64) -> String {
    let claims = serde_json::json!({
        "sub": user_id,
        "exp": chrono::Utc::now().timestamp() + exp_offset,
        "aud": "authenticated",
        "role": "authenticated",
    });
    encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn token(user_id: Uuid) -> String {
    token_with(user_id, JWT_SECRET, 3600)
}

/// One client's campaign with a matched call, a rewarded condition and a card pool.
pub struct World {
    pub campaign: Campaign,
    pub client_id: Uuid,
    pub org_id: Uuid,
    pub recipient_id: Uuid,
    pub pool_id: Uuid,
    pub session_id: Uuid,
    pub agent: Uuid,
}

impl TestApp {
    /// Seeds the world: condition 1 (rewarded from a pool of `cards`), condition 2
    /// (active, no reward), condition 3 (inactive), a recipient who calls, and an agent.
    pub async fn world(&self, cards: usize) -> World {
        let campaign = self.seed_campaign().await;
        let ids = self
            .db
            .query_one(
                "SELECT c.client_id, cl.org_id FROM campaigns c JOIN clients cl ON cl.id = c.client_id WHERE c.id = $1",
                &[&campaign.id],
            )
            .await
            .unwrap();
        let (client_id, org_id): (Uuid, Uuid) = (ids.get(0), ids.get(1));
        let recipient_id = self.seed_recipient(&campaign, "(415) 555-0100").await;
        self.db
            .execute(
                "INSERT INTO campaign_conditions (campaign_id, condition_number, condition_name, trigger_type, is_active)
                 VALUES ($1, 1, 'Booked an appointment', 'call', true),
                        ($1, 2, 'Asked for a quote', 'call', true),
                        ($1, 3, 'Retired condition', 'call', false)",
                &[&campaign.id],
            )
            .await
            .unwrap();
        let pool_id = self.seed_pool(Some(client_id), cards).await;
        self.db
            .execute(
                "INSERT INTO campaign_reward_configs (campaign_id, condition_number, gift_card_pool_id,
                     reward_description, sms_template)
                 VALUES ($1, 1, $2, '$25 Amazon gift card',
                     'Hi {first_name}, your {brand} card worth ${value}: {card_code} PIN {pin_code}')",
                &[&campaign.id, &pool_id],
            )
            .await
            .unwrap();
        let call = self.start_call(CALLER).await;
        let session_id = self.session(&call.call_sid).await["id"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let agent = self
            .seed_user(&["call_center"], Some(client_id), None)
            .await;
        World {
            campaign,
            client_id,
            org_id,
            recipient_id,
            pool_id,
            session_id,
            agent,
        }
    }

    /// A gift-card pool with `cards` encrypted cards and counters to match.
    pub async fn seed_pool(&self, client_id: Option<Uuid>, cards: usize) -> Uuid {
        let brand: Uuid = self
            .db
            .query_one(
                "INSERT INTO gift_card_brands (brand_name, default_value, is_active) VALUES ('Amazon', 25, true) RETURNING id",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        let pool: Uuid = self
            .db
            .query_one(
                "INSERT INTO gift_card_pools (client_id, brand_id, pool_name, value_amount,
                     total_cards, available_cards, delivered_cards)
                 VALUES ($1, $2, 'Amazon $25', 25.00, 0, 0, 0) RETURNING id",
                &[&client_id, &brand],
            )
            .await
            .unwrap()
            .get(0);
        self.add_cards(pool, cards).await;
        pool
    }

    /// Adds `cards` cards with codes `CODE-<pool>-<n>` straight into a pool, counters included.
    pub async fn add_cards(&self, pool: Uuid, cards: usize) {
        let cipher = cipher();
        for n in 0..cards {
            let code = format!("CODE-{}-{n}", &pool.simple().to_string()[..6]);
            self.db
                .execute(
                    "INSERT INTO gift_cards (pool_id, card_code, pin_code, value_amount) VALUES ($1, $2, $3, 25.00)",
                    &[&pool, &cipher.encrypt(&code), &cipher.encrypt("4321")],
                )
                .await
                .unwrap();
        }
        self.db
            .execute(
                "UPDATE gift_card_pools SET total_cards = total_cards + $2, available_cards = available_cards + $2 WHERE id = $1",
                &[&pool, &(cards as i32)],
            )
            .await
            .unwrap();
    }

    /// The redemption code printed on a recipient's mail piece.
    pub async fn redemption_code(&self, recipient_id: Uuid) -> String {
        self.db
            .query_one(
                "SELECT redemption_code FROM recipients WHERE id = $1",
                &[&recipient_id],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// An organization and its one client, nothing else: what a user needs to be signed in
    /// as that client's owner on an otherwise empty database. Returns (org, client).
    pub async fn seed_client(&self) -> (Uuid, Uuid) {
        let row = self
            .db
            .query_one(
                "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Acme Agency', 'agency') RETURNING id)
                 INSERT INTO clients (org_id, name, industry) SELECT id, 'Acme Roofing', 'roofing' FROM o
                 RETURNING org_id, id",
                &[],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    /// A platform user with `roles`, assigned to a client and/or an organization.
    pub async fn seed_user(
        &self,
        roles: &[&str],
        client_id: Option<Uuid>,
        org_id: Option<Uuid>,
    ) -> Uuid {
        let user = Uuid::new_v4();
        for role in roles {
            self.db
                .execute(
                    "INSERT INTO user_roles (user_id, role) VALUES ($1, $2)",
                    &[&user, role],
                )
                .await
                .unwrap();
        }
        if let Some(client_id) = client_id {
            self.db
                .execute(
                    "INSERT INTO client_users (client_id, user_id) VALUES ($1, $2)",
                    &[&client_id, &user],
                )
                .await
                .unwrap();
        }
        if let Some(org_id) = org_id {
            self.db
                .execute(
                    "INSERT INTO org_members (org_id, user_id) VALUES ($1, $2)",
                    &[&org_id, &user],
                )
                .await
                .unwrap();
        }
        user
    }

    /// Sets a client's API key (stored as its SHA-256 hex) and returns the key.
    pub async fn seed_api_key(&self, client_id: Uuid) -> String {
        let key = format!("ck_{}", Uuid::new_v4().simple());
        self.db
            .execute(
                "UPDATE clients SET api_key_hash = encode(sha256(convert_to($2, 'UTF8')), 'hex') WHERE id = $1",
                &[&client_id, &key],
            )
            .await
            .unwrap();
        key
    }

    /// A second organization, client and campaign with one session of its own.
    pub async fn other_client_session(&self) -> (Uuid, Uuid) {
        let row = self
            .db
            .query_one(
                "WITH o AS (INSERT INTO organizations (name, type) VALUES ('Other', 'direct') RETURNING id),
                      c AS (INSERT INTO clients (org_id, name) SELECT id, 'Other Co' FROM o RETURNING id),
                      k AS (INSERT INTO campaigns (client_id, name) SELECT id, 'Other campaign' FROM c RETURNING id),
                      t AS (INSERT INTO tracked_phone_numbers (campaign_id, phone_number, forward_to_number)
                            SELECT id, '+18005550777', '+14155550111' FROM k RETURNING id, campaign_id)
                 INSERT INTO call_sessions (campaign_id, tracked_number_id, caller_phone, match_status, call_status, twilio_call_sid)
                 SELECT t.campaign_id, t.id, '+14155550999', 'unmatched', 'completed', 'CA' || md5(random()::text)
                 FROM t RETURNING id, (SELECT id FROM c)",
                &[],
            )
            .await
            .unwrap();
        (row.get(1), row.get(0))
    }

    pub async fn api_get(&self, path: &str, auth: &Auth) -> (u16, Value) {
        let request = auth.apply(self.http.get(format!("{}{path}", self.address)));
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn api_post(&self, path: &str, auth: &Auth, body: &Value) -> (u16, Value) {
        let request = auth.apply(self.http.post(format!("{}{path}", self.address)).json(body));
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn api_patch(&self, path: &str, auth: &Auth, body: &Value) -> (u16, Value) {
        let request = auth.apply(
            self.http
                .patch(format!("{}{path}", self.address))
                .json(body),
        );
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn api_delete(&self, path: &str, auth: &Auth) -> (u16, Value) {
        let request = auth.apply(self.http.delete(format!("{}{path}", self.address)));
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn mark(&self, session_id: Uuid, auth: &Auth, condition: i32) -> (u16, Value) {
        self.api_post(
            &format!("/api/v1/call-sessions/{session_id}/conditions"),
            auth,
            &serde_json::json!({ "condition_number": condition, "notes": "booked for Tuesday" }),
        )
        .await
    }
}

/// How a test request authenticates.
pub enum Auth {
    None,
    Bearer(String),
    ApiKey(String),
}

impl Auth {
    pub fn user(user_id: Uuid) -> Self {
        Self::Bearer(token(user_id))
    }

    fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Self::None => request,
            Self::Bearer(token) => request.bearer_auth(token),
            Self::ApiKey(key) => request.header("x-api-key", key),
        }
    }
}
