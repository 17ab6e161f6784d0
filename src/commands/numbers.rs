//! `calltrack numbers buy|list|release`: the operator's way to the same code path the API uses.

use uuid::Uuid;

use crate::app::Caller as Actor;
use crate::app::numbers::{self, BuyRequest, Numbers};
use crate::config::NumbersSettings;
use crate::db::numbers::TrackedNumber;
use crate::domain::DialableNumber;
use crate::startup::open_and_migrate;
use crate::twilio::client::{AvailableSearch, TwilioClient};

#[derive(Debug, clap::Subcommand)]
pub enum NumbersCommand {
    /// Buy a number at Twilio for a campaign and point it at this service.
    Buy {
        #[arg(long)]
        campaign: Uuid,
        /// Any local number in this area code.
        #[arg(
            long,
            conflicts_with = "phone_number",
            required_unless_present = "phone_number"
        )]
        area_code: Option<String>,
        /// Exactly this number (E.164).
        #[arg(long)]
        phone_number: Option<String>,
        /// Where calls are forwarded (E.164); refused unless it is a dialable number.
        #[arg(long, value_parser = dialable)]
        forward_to: DialableNumber,
    },
    /// Search Twilio for local numbers for sale, to choose one for `buy --phone-number`.
    Search {
        #[arg(long)]
        area_code: Option<String>,
        /// Digits or letters the number should contain.
        #[arg(long)]
        contains: Option<String>,
        /// A state or province, e.g. CA.
        #[arg(long)]
        in_region: Option<String>,
        /// ISO country code.
        #[arg(long, default_value = "US")]
        country: String,
    },
    /// List tracked numbers, all or one campaign's.
    List {
        #[arg(long)]
        campaign: Option<Uuid>,
    },
    /// Release a number at Twilio; its row stays, inactive.
    Release {
        #[arg(long)]
        id: Uuid,
    },
}

/// Refuses a forward-to number nobody can dial while the command line is read, before the
/// database or Twilio is touched.
fn dialable(raw: &str) -> Result<DialableNumber, String> {
    DialableNumber::parse(raw).map_err(|e| format!("the number {e}"))
}

/// Runs one `numbers` subcommand against the database and Twilio account of `settings`.
pub async fn run(command: NumbersCommand, settings: NumbersSettings) -> anyhow::Result<()> {
    let (database, pool) = open_and_migrate(&settings.database, 2).await?;
    let numbers = Numbers {
        pool: pool.clone(),
        twilio: TwilioClient::new(&settings.twilio)?,
        public_base_url: settings.public_base_url.clone(),
        routing: None,
    };
    let result = match command {
        NumbersCommand::Buy {
            campaign,
            area_code,
            phone_number,
            forward_to,
        } => {
            async {
                let request = BuyRequest::parse(
                    area_code.as_deref(),
                    phone_number.as_deref(),
                    forward_to.as_str(),
                )?;
                let bought = numbers::buy(&numbers, Actor::Operator, campaign, &request).await?;
                print_numbers(&[bought]);
                Ok(())
            }
            .await
        }
        NumbersCommand::Search {
            area_code,
            contains,
            in_region,
            country,
        } => {
            async {
                let search = AvailableSearch {
                    area_code,
                    contains,
                    in_region,
                };
                let found = numbers.twilio.search_available(&country, &search).await?;
                for n in &found {
                    let place = [n.locality.as_deref(), n.region.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>();
                    println!("{}  {}", n.phone_number, place.join(", "));
                }
                println!("{} numbers available", found.len());
                Ok(())
            }
            .await
        }
        NumbersCommand::List { campaign } => {
            let conn = pool.get().await?;
            let list = crate::db::numbers::list_all(&conn, campaign).await?;
            print_numbers(&list);
            Ok(())
        }
        NumbersCommand::Release { id } => {
            async {
                let released = numbers::release(&numbers, Actor::Operator, id).await?;
                print_numbers(&[released]);
                Ok(())
            }
            .await
        }
    };
    database.shutdown()?;
    result
}

fn print_numbers(numbers: &[TrackedNumber]) {
    println!(
        "{:<36}  {:<14}  {:<14}  {:<8}  {:<36}  provider_sid",
        "id", "number", "forwards_to", "state", "campaign"
    );
    for n in numbers {
        let state = match (n.is_active, n.released_at) {
            (_, Some(_)) => "released",
            (true, None) => "active",
            (false, None) => "off",
        };
        println!(
            "{:<36}  {:<14}  {:<14}  {:<8}  {:<36}  {}",
            n.id,
            n.phone_number,
            n.forward_to_number,
            state,
            n.campaign_id,
            n.provider_sid.as_deref().unwrap_or("-")
        );
    }
}
