use calltrack::domain::E164;

use crate::helpers::test_database;

/// The database normalises stored recipient phones and Rust normalises callers; a match
/// needs both to agree on every format other systems write.
#[tokio::test]
async fn the_database_and_libphonenumber_agree_on_every_stored_format() {
    let config = test_database().await;
    let client = calltrack::db::pool::connect(&config).await.unwrap();
    let formats = [
        "(415) 555-0100",
        "415.555.0100",
        "+1 415 555 0100",
        "1-415-555-0100",
        "1 (415) 555-0100",
        "4155550100",
        "+14155550100",
        " 415 555 0100 ",
        "415-555-0100 ext. 12",
        "415 555 0100 x7",
        "+44 20 7946 0958",
        "0044 20 7946 0958",
        "+61 2 9374 4000",
    ];
    for raw in formats {
        let in_db: Option<String> = client
            .query_one("SELECT calltrack_phone_e164($1)", &[&raw])
            .await
            .unwrap()
            .get(0);
        let without_extension = raw.split(['x', 'e']).next().unwrap();
        let in_rust = E164::parse(&without_extension.replace("0044", "+44")).unwrap();
        assert_eq!(in_db.as_deref(), Some(in_rust.as_str()), "{raw}");
    }
    for junk in ["", "n/a", "555-0100", "+0 123 456 789"] {
        let in_db: Option<String> = client
            .query_one("SELECT calltrack_phone_e164($1)", &[&junk])
            .await
            .unwrap()
            .get(0);
        assert_eq!(in_db, None, "{junk:?}");
    }
}

#[tokio::test]
async fn caller_matching_is_one_index_lookup() {
    let config = test_database().await;
    let client = calltrack::db::pool::connect(&config).await.unwrap();
    client
        .batch_execute(
            "INSERT INTO organizations (id, name, type) VALUES ('00000000-0000-0000-0000-000000000001', 'o', 'direct');
             INSERT INTO clients (id, org_id, name) VALUES ('00000000-0000-0000-0000-000000000002', '00000000-0000-0000-0000-000000000001', 'c');
             INSERT INTO campaigns (id, client_id, name) VALUES ('00000000-0000-0000-0000-000000000003', '00000000-0000-0000-0000-000000000002', 'k');
             INSERT INTO recipients (campaign_id, redemption_code, phone)
             SELECT '00000000-0000-0000-0000-000000000003', 'RC' || g, (4150000000 + g)::text
             FROM generate_series(1, 5000) g;
             ANALYZE recipients;",
        )
        .await
        .unwrap();
    let plan: String = client
        .query(
            "EXPLAIN SELECT id FROM recipients WHERE campaign_id = '00000000-0000-0000-0000-000000000003' AND phone_e164 = '+14150000042'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        plan.contains("recipients_campaign_phone_e164_idx"),
        "{plan}"
    );
}
