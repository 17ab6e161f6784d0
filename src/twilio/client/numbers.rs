//! Twilio's phone-number resources: searching available numbers, buying one pointed at this
//! service, re-pointing it, and releasing it.

use serde::Deserialize;

use super::{ListPage, TwilioClient, TwilioError, send, transport_error};

/// What to buy: an exact number, or any local number in an area code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberChoice {
    Exact(String),
    AreaCode(String),
}

/// Where a bought number sends its calls.
#[derive(Debug, Clone)]
pub struct NumberWebhooks {
    pub voice_url: String,
    pub status_callback: String,
    pub voice_fallback_url: String,
}

/// Filters of an available-number search (all optional).
#[derive(Debug, Clone, Default)]
pub struct AvailableSearch {
    pub area_code: Option<String>,
    pub contains: Option<String>,
    pub in_region: Option<String>,
}

/// A number Twilio holds for this account.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct IncomingNumber {
    pub sid: String,
    pub phone_number: String,
    pub friendly_name: Option<String>,
    pub voice_url: Option<String>,
}

/// A number Twilio offers for sale.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct AvailableNumber {
    pub phone_number: String,
    pub locality: Option<String>,
    pub region: Option<String>,
}

#[derive(Deserialize)]
struct AvailableList {
    available_phone_numbers: Vec<AvailableNumber>,
}

#[derive(Deserialize)]
struct IncomingList {
    incoming_phone_numbers: Vec<IncomingNumber>,
    next_page_uri: Option<String>,
}

impl ListPage for IncomingList {
    type Item = IncomingNumber;
    fn into_parts(self) -> (Vec<IncomingNumber>, Option<String>) {
        (self.incoming_phone_numbers, self.next_page_uri)
    }
}

impl NumberWebhooks {
    fn form(&self) -> [(&'static str, &str); 5] {
        [
            ("VoiceUrl", &self.voice_url),
            ("VoiceMethod", "POST"),
            ("StatusCallback", &self.status_callback),
            ("StatusCallbackMethod", "POST"),
            ("VoiceFallbackUrl", &self.voice_fallback_url),
        ]
    }
}

impl TwilioClient {
    /// Local numbers for sale in `country` (ISO code, e.g. `US`).
    #[tracing::instrument(skip_all)]
    pub async fn search_available(
        &self,
        country: &str,
        search: &AvailableSearch,
    ) -> Result<Vec<AvailableNumber>, TwilioError> {
        let mut query = Vec::new();
        for (key, value) in [
            ("AreaCode", &search.area_code),
            ("Contains", &search.contains),
            ("InRegion", &search.in_region),
        ] {
            if let Some(value) = value {
                query.push((key, value.as_str()));
            }
        }
        let url = self.account_url(&format!("AvailablePhoneNumbers/{country}/Local.json"));
        let list: AvailableList = send(self.authed(self.http.get(url)).query(&query)).await?;
        Ok(list.available_phone_numbers)
    }

    /// Buys a number and points its voice URL, status callback and fallback at this service.
    #[tracing::instrument(skip_all)]
    pub async fn buy_number(
        &self,
        choice: &NumberChoice,
        webhooks: &NumberWebhooks,
        friendly_name: &str,
    ) -> Result<IncomingNumber, TwilioError> {
        let (key, value) = match choice {
            NumberChoice::Exact(number) => ("PhoneNumber", number.as_str()),
            NumberChoice::AreaCode(code) => ("AreaCode", code.as_str()),
        };
        let mut form = vec![(key, value), ("FriendlyName", friendly_name)];
        form.extend(webhooks.form());
        let request = self
            .authed(
                self.http
                    .post(self.account_url("IncomingPhoneNumbers.json")),
            )
            .form(&form);
        let bought: IncomingNumber = send(request).await?;
        tracing::info!(number.sid = %bought.sid, "Twilio sold a number");
        Ok(bought)
    }

    /// The numbers this account holds whose friendly name is exactly `friendly_name` (and,
    /// given `phone_number`, that are that number), every page read. Used after a purchase
    /// whose answer was lost: each purchase attempt has a friendly name of its own, so what
    /// this finds is what that attempt bought.
    #[tracing::instrument(skip_all)]
    pub async fn find_numbers(
        &self,
        friendly_name: &str,
        phone_number: Option<&str>,
    ) -> Result<Vec<IncomingNumber>, TwilioError> {
        let mut query = vec![("FriendlyName", friendly_name), ("PageSize", "50")];
        if let Some(number) = phone_number {
            query.push(("PhoneNumber", number));
        }
        let first = self
            .authed(self.http.get(self.account_url("IncomingPhoneNumbers.json")))
            .query(&query);
        let found = self
            .read_all_pages::<IncomingList>(first, "IncomingPhoneNumbers.json")
            .await?;
        // Twilio's PhoneNumber filter also matches partial numbers; only exact ones count.
        Ok(found
            .into_iter()
            .filter(|n| n.friendly_name.as_deref() == Some(friendly_name))
            .filter(|n| phone_number.is_none_or(|p| n.phone_number == p))
            .collect())
    }

    /// Re-points a number this account owns at this service.
    #[tracing::instrument(skip_all, fields(number.sid = %sid))]
    pub async fn update_number(
        &self,
        sid: &str,
        webhooks: &NumberWebhooks,
    ) -> Result<IncomingNumber, TwilioError> {
        let url = self.account_url(&format!("IncomingPhoneNumbers/{sid}.json"));
        send(self.authed(self.http.post(url)).form(&webhooks.form())).await
    }

    /// Releases a number. A number Twilio no longer has (404) counts as released.
    #[tracing::instrument(skip_all, fields(number.sid = %sid))]
    pub async fn release_number(&self, sid: &str) -> Result<(), TwilioError> {
        let url = self.account_url(&format!("IncomingPhoneNumbers/{sid}.json"));
        let response = self
            .authed(self.http.delete(url))
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status.is_success() || status.as_u16() == 404 {
            return Ok(());
        }
        let bytes = response.bytes().await.unwrap_or_default();
        Err(TwilioError::Api {
            status: status.as_u16(),
            error: serde_json::from_slice(&bytes).ok(),
        })
    }
}
