//! The manager console's Webhooks page in headless Chromium: an endpoint added with its
//! secret shown once, its deliveries with their status, one sent again, the secret rotated.

use secrecy::ExposeSecret as _;
use uuid::Uuid;

use super::chromium::{Browser, eventually};
use crate::helpers::TestApp;
use crate::world::{cipher, token};

async fn click(browser: &Browser, css: &str) {
    browser.wait_for_visible(css).await.click().await.unwrap();
}

async fn type_into(browser: &Browser, css: &str, text: &str) {
    let input = browser.wait_for_visible(css).await;
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

#[tokio::test]
async fn a_company_owner_adds_an_endpoint_reads_its_deliveries_retries_one_and_rotates_the_secret()
{
    if super::chromium::skip_without_chromium() {
        return;
    }
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let owner = app
        .seed_user(&["company_owner"], Some(world.client_id), None)
        .await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{}/manage#/webhooks", app.address))
        .await
        .unwrap();
    type_into(&browser, r#"[data-testid="secret"]"#, &token(owner)).await;
    click(&browser, r#"[data-testid="sign-in-submit"]"#).await;
    browser
        .wait_for_text(r#"[data-testid="webhooks-empty"]"#, "No endpoints")
        .await;

    // A URL that may not receive webhooks is refused in words.
    type_into(&browser, "#webhook-url", "http://127.0.0.1/hooks").await;
    click(&browser, r#"[data-testid="new-webhook-submit"]"#).await;
    browser
        .wait_for_text(r#"[data-testid="new-webhook-error"]"#, "https://")
        .await;

    // Added: the secret is shown once and is the one stored (encrypted).
    type_into(&browser, "#webhook-url", "https://93.184.215.14/hooks/crm").await;
    type_into(&browser, "#webhook-description", "Our CRM").await;
    click(&browser, r#"input[value="call.started"]"#).await;
    click(&browser, r#"[data-testid="new-webhook-submit"]"#).await;
    let secret = browser
        .wait_for_text(r#"[data-testid="webhook-secret"]"#, "whsec_")
        .await;
    let (id, stored): (Uuid, String) = {
        let row = app
            .db
            .query_one("SELECT id, secret, events FROM webhook_endpoints", &[])
            .await
            .unwrap();
        let events: Vec<String> = row.get(2);
        assert_eq!(events, ["call.started", "call.completed", "condition.met"]);
        (row.get(0), row.get(1))
    };
    assert_eq!(cipher().decrypt(&stored).unwrap().expose_secret(), secret);
    browser
        .wait_for_text(r#"[data-testid="webhook-meta"]"#, "Our CRM")
        .await;
    click(&browser, r#"[data-testid="webhook-secret-done"]"#).await;
    eventually("the secret to be hidden", || async {
        let text = browser.text(r#"[data-testid="webhook-secret"]"#).await?;
        text.is_empty().then_some(())
    })
    .await;

    // A played call is delivered... or not: a failed one is sent again.
    app.start_call("+14155550100").await;
    let message: String = app
        .db
        .query_one(
            "UPDATE webhook_messages SET status = 'failed', attempts = 8 WHERE endpoint_id = $1 RETURNING id",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    click(&browser, r#"[data-testid="webhook-deliveries-toggle"]"#).await;
    browser
        .wait_for_text(
            r#"[data-testid="webhook-delivery-status"]"#,
            "call.started · failed · 8 attempts",
        )
        .await;
    click(&browser, r#"[data-testid="webhook-retry"]"#).await;
    browser
        .wait_for_text(r#"[data-testid="webhook-delivery-status"]"#, "pending")
        .await;
    let status: String = app
        .db
        .query_one(
            "SELECT status FROM webhook_messages WHERE id = $1",
            &[&message],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(status, "pending");

    // Rotated: a new secret shown, the previous one kept.
    click(&browser, r#"[data-testid="webhook-rotate"]"#).await;
    let rotated = eventually("a new secret", || async {
        let text = browser.text(r#"[data-testid="webhook-secret"]"#).await?;
        (text.starts_with("whsec_") && text != secret).then_some(text)
    })
    .await;
    let previous: Option<String> = app
        .db
        .query_one(
            "SELECT previous_secret FROM webhook_endpoints WHERE id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(previous.as_deref(), Some(stored.as_str()));
    assert!(!rotated.is_empty());
    browser.close().await;
}
