use calltrack::twilio::simulated::SimulatedCall;

use crate::helpers::{FORWARD_TO, TRACKED_NUMBER, TestApp};

/// The sum of the samples of `name` that carry `label`.
pub(crate) fn sample_value(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    label: (&str, &str),
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .reduce(|a, b| a + b)
}

#[tokio::test]
async fn the_gift_card_pool_gauge_is_keyed_by_pool_id_without_the_user_chosen_name() {
    let app = TestApp::spawn().await;
    let pool = app.seed_pool(None, 2).await;
    app.db
        .execute(
            "UPDATE gift_card_pools SET pool_name = 'Spring \"promo\" pool, 25$' WHERE id = $1",
            &[&pool],
        )
        .await
        .unwrap();

    let text = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");

    let pool_id = pool.to_string();
    assert_eq!(
        sample_value(
            &scrape,
            "calltrack_gift_card_pool_available",
            ("pool_id", pool_id.as_str())
        ),
        Some(2.0)
    );
    for sample in scrape
        .samples
        .iter()
        .filter(|s| s.metric == "calltrack_gift_card_pool_available")
    {
        assert_eq!(sample.labels.get("pool_name"), None, "{:?}", sample.labels);
    }
    assert!(!text.contains("promo"), "no pool name in the exposition");
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_what_happened() {
    let app = TestApp::spawn().await;
    app.seed_campaign().await;
    app.start_call("+14155550100").await;
    let call = SimulatedCall::new("+14155550100", TRACKED_NUMBER, FORWARD_TO);
    let refused = app
        .post_form("/twilio/voice", call.voice().encode(), Some("forged"))
        .await;
    assert_eq!(refused.status(), 403);

    let response = app
        .http
        .get(format!("{}/metrics", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");

    assert!(
        sample_value(
            &scrape,
            "calltrack_http_requests_total",
            ("route", "/twilio/voice")
        )
        .unwrap()
            >= 2.0
    );
    assert!(
        sample_value(
            &scrape,
            "calltrack_webhooks_rejected_total",
            ("reason", "bad_signature")
        )
        .unwrap()
            >= 1.0
    );
    assert!(sample_value(&scrape, "calltrack_calls_last_24h", ("status", "ringing")).is_some());
    assert!(sample_value(&scrape, "calltrack_sms_outbox_depth", ("state", "pending")).is_some());
    assert!(
        scrape.samples.iter().any(
            |s| s.metric == "calltrack_http_request_duration_seconds_bucket"
                || s.metric == "calltrack_http_request_duration_seconds"
        ),
        "latency histogram present"
    );
}
