//! Recipients imported from a CSV body streamed to the API, and listed a page at a time.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::world::{Auth, token};

const HEADER: &str = "first_name,last_name,phone,redemption_code";

fn path(campaign: Uuid) -> String {
    format!("/api/v1/campaigns/{campaign}/recipients")
}

fn authorize(request: reqwest::RequestBuilder, auth: &Auth) -> reqwest::RequestBuilder {
    match auth {
        Auth::None => request,
        Auth::Bearer(token) => request.bearer_auth(token),
        Auth::ApiKey(key) => request.header("x-api-key", key),
    }
}

async fn import(
    app: &TestApp,
    campaign: Uuid,
    auth: &Auth,
    csv: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let request = app
        .http
        .post(format!("{}{}", app.address, path(campaign)))
        .header("content-type", "text/csv; charset=utf-8")
        .body(csv);
    let response = authorize(request, auth).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A campaign with its tracked number, and a company owner of its client.
async fn setup(app: &TestApp) -> (crate::helpers::Campaign, Uuid, Auth) {
    let campaign = app.seed_campaign().await;
    let client: Uuid = app
        .db
        .query_one(
            "SELECT client_id FROM campaigns WHERE id = $1",
            &[&campaign.id],
        )
        .await
        .unwrap()
        .get(0);
    let owner = app.seed_user(&["company_owner"], Some(client), None).await;
    (campaign, client, Auth::Bearer(token(owner)))
}

#[tokio::test]
async fn an_import_adds_then_updates_by_code_and_a_call_from_the_number_matches_its_recipient() {
    let app = TestApp::spawn().await;
    let (campaign, _, owner) = setup(&app).await;
    let first = "\u{feff}redemption_code,Phone,zip,Last_Name,first_name\r\n\
         SPRING-1,(415) 555-0101,94110,Lee,Ann\r\n\
         SPRING-2,415.555.0102,94110,\"Smith, Jr.\",Bo\r\n\
         \r\n\
         SPRING-3,+1 415 555 0103,,Ng,Cy\r\n\
         SPRING-4,,,Doe,Di\r\n"
        .to_owned();
    let (status, body) = import(&app, campaign.id, &owner, first).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"added": 4, "updated": 0, "rejected": [], "rejected_total": 0})
    );
    let second = format!(
        "{HEADER}\nAnn,Lee-Park,(415) 555-0111,SPRING-1\nBo,Smith,415.555.0102,SPRING-2\n\
         Cy,Ng,,SPRING-3\nDi,Doe,415 555 0104,SPRING-4\nEd,Eng,4155550105,SPRING-5\n"
    );
    let (status, body) = import(&app, campaign.id, &owner, second).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"added": 1, "updated": 4, "rejected": [], "rejected_total": 0})
    );
    let rows = app
        .db
        .query(
            "SELECT redemption_code, first_name, last_name, phone, phone_e164 FROM recipients
             WHERE campaign_id = $1 ORDER BY redemption_code",
            &[&campaign.id],
        )
        .await
        .unwrap();
    type Row = (String, String, String, Option<String>, Option<String>);
    let rows: Vec<Row> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
        .collect();
    let e164 = |s: &str| Some(s.to_owned());
    assert_eq!(
        rows,
        vec![
            (
                "SPRING-1".into(),
                "Ann".into(),
                "Lee-Park".into(),
                e164("+14155550111"),
                e164("+14155550111")
            ),
            (
                "SPRING-2".into(),
                "Bo".into(),
                "Smith".into(),
                e164("+14155550102"),
                e164("+14155550102")
            ),
            ("SPRING-3".into(), "Cy".into(), "Ng".into(), None, None),
            (
                "SPRING-4".into(),
                "Di".into(),
                "Doe".into(),
                e164("+14155550104"),
                e164("+14155550104")
            ),
            (
                "SPRING-5".into(),
                "Ed".into(),
                "Eng".into(),
                e164("+14155550105"),
                e164("+14155550105")
            ),
        ]
    );
    // One audit row per import, with counts only.
    let audits = app
        .db
        .query(
            "SELECT details FROM audit_log WHERE action = 'recipients_import' AND entity_id = $1
             ORDER BY created_at",
            &[&campaign.id],
        )
        .await
        .unwrap();
    let details: Vec<Value> = audits.iter().map(|r| r.get(0)).collect();
    assert_eq!(
        details,
        vec![
            json!({"added": 4, "updated": 0, "rejected": 0, "completed": true}),
            json!({"added": 1, "updated": 4, "rejected": 0, "completed": true}),
        ]
    );
    // The voice webhook finds each imported phone, however it was written in the file.
    for (caller, code) in [
        ("+14155550111", "SPRING-1"),
        ("+14155550102", "SPRING-2"),
        ("+14155550104", "SPRING-4"),
    ] {
        let call = app.start_call(caller).await;
        let session = app.session(&call.call_sid).await;
        assert_eq!(session["match_status"], "matched", "{caller}");
        let recipient: Uuid = session["recipient_id"].as_str().unwrap().parse().unwrap();
        let matched: String = app
            .db
            .query_one(
                "SELECT redemption_code FROM recipients WHERE id = $1",
                &[&recipient],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(matched, code);
    }
}

#[tokio::test]
async fn rejected_lines_write_nothing_and_their_reasons_quote_no_value() {
    let app = TestApp::spawn().await;
    let (campaign, _, owner) = setup(&app).await;
    let (other_client, _) = app.other_client_session().await;
    app.db
        .execute(
            "INSERT INTO recipients (campaign_id, redemption_code, phone)
             SELECT id, 'TAKEN-1', '+14155550999' FROM campaigns WHERE client_id = $1",
            &[&other_client],
        )
        .await
        .unwrap();
    let mut csv = format!(
        "{HEADER},zip\n\
         Ann,Lee,(415) 555-0101,OK-1,1\n\
         Bo,Ng,415 555 01,BAD-PHONE,2\n\
         Cy,Ng,(415) 555-0103,,3\n\
         Di,Doe,(415) 555-0104,OK-1,4\n\
         Ed,Eng,(415) 555-0105,TAKEN-1,5\n\
         Fay,Fu,(415) 555-0106,SHORT\n\
         Gus,@@,(415) 555-0107,BAD-UTF8,7\n\
         Hal,Ho,\"(415) 555-0108\",OK-2,8\n"
    )
    .into_bytes();
    let at = csv.windows(2).position(|w| w == b"@@").unwrap();
    csv.splice(at..at + 2, [0xC3, 0x28]);
    let (status, body) = import(&app, campaign.id, &owner, csv).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"added": 2, "updated": 0, "rejected_total": 6, "rejected": [
            {"line": 3, "reason": "phone is not a valid phone number"},
            {"line": 4, "reason": "redemption_code is empty"},
            {"line": 5, "reason": "redemption_code was already given on line 2"},
            {"line": 6, "reason": "redemption_code is used by another campaign"},
            {"line": 7, "reason": "the line has 4 fields, the header has 5"},
            {"line": 8, "reason": "the line is not valid UTF-8"},
        ]})
    );
    let codes = app
        .db
        .query(
            "SELECT redemption_code, phone FROM recipients WHERE campaign_id = $1 ORDER BY 1",
            &[&campaign.id],
        )
        .await
        .unwrap();
    let codes: Vec<(String, String)> = codes.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        codes,
        vec![
            ("OK-1".into(), "+14155550101".into()),
            ("OK-2".into(), "+14155550108".into())
        ]
    );
    let untouched: String = app
        .db
        .query_one(
            "SELECT phone FROM recipients WHERE redemption_code = 'TAKEN-1'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(untouched, "+14155550999");
    let text = body.to_string();
    for digits in ["555", "0101", "0104", "0107"] {
        assert!(!text.contains(digits), "{text}");
    }
}

#[tokio::test]
async fn an_import_refuses_what_it_may_not_or_cannot_read() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let owner = Auth::Bearer(token(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    ));
    let key = Auth::ApiKey(app.seed_api_key(world.client_id).await);
    let csv = format!("{HEADER}\nAnn,Lee,,A-1\n");
    let campaign = world.campaign.id;
    // Wrong type: 415, even with a CSV inside.
    let response = app
        .http
        .post(format!("{}{}", app.address, path(campaign)))
        .bearer_auth(token(app.seed_user(&["admin"], None, None).await))
        .json(&json!({"csv": csv}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unsupported_media_type");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("text/csv")
    );
    // A header without a required column is named.
    let (status, body) = import(
        &app,
        campaign,
        &key,
        "first_name,last_name,redemption_code\nA,B,C\n",
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_csv");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no phone column"),
        "{body}"
    );
    let (status, body) = import(&app, campaign, &key, "").await;
    assert_eq!(
        (status, body["error"]["code"].clone()),
        (400, json!("invalid_csv"))
    );
    // Roles and clients.
    let (status, _) = import(&app, campaign, &Auth::user(world.agent), csv.clone()).await;
    assert_eq!(status, 403);
    let (status, _) = import(&app, campaign, &Auth::None, csv.clone()).await;
    assert_eq!(status, 401);
    let (other_client, _) = app.other_client_session().await;
    let other: Uuid = app
        .db
        .query_one(
            "SELECT id FROM campaigns WHERE client_id = $1",
            &[&other_client],
        )
        .await
        .unwrap()
        .get(0);
    let (status, body) = import(&app, other, &owner, csv.clone()).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = import(&app, Uuid::new_v4(), &owner, csv.clone()).await;
    assert_eq!(status, 404);
    assert_eq!(
        app.count("SELECT count(*) FROM recipients WHERE redemption_code = 'A-1'")
            .await,
        0
    );
    // Over 50 MB without a length: read up to the limit, then 413. Blank lines cost nothing.
    let limit = 50 * 1024 * 1024;
    let chunks = (0..=limit / (1024 * 1024)).map(move |i| {
        let size = if i == limit / (1024 * 1024) {
            1
        } else {
            1024 * 1024
        };
        let mut chunk = vec![b'\n'; size];
        if i == 0 {
            chunk[..HEADER.len()].copy_from_slice(HEADER.as_bytes());
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let (status, body) = import(&app, campaign, &owner, body).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "payload_too_large");
    // Over 50 MB by its length: refused before a byte of it is read (a raw request, since a
    // client library would insist on sending the body it announced).
    let Auth::Bearer(bearer) = &owner else {
        unreachable!()
    };
    let host = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&host).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {bearer}\r\n\
         Content-Type: text/csv\r\nContent-Length: {}\r\n\r\n{HEADER}\n",
        path(campaign),
        limit + 1
    );
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer before the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_imports_of_one_file_at_once_leave_each_recipient_once() {
    let app = TestApp::spawn().await;
    let (campaign, _, owner) = setup(&app).await;
    let lines = 25_000;
    let mut csv = format!("{HEADER}\n");
    for n in 0..lines {
        csv.push_str(&format!("Ann,Lee,+1212{n:07},C-{n:06}\n"));
    }
    let (a, b) = tokio::join!(
        import(&app, campaign.id, &owner, csv.clone()),
        import(&app, campaign.id, &owner, csv.clone())
    );
    assert_eq!((a.0, b.0), (200, 200), "{a:?} {b:?}");
    let count = |v: &Value, k: &str| v[k].as_u64().unwrap();
    assert_eq!(count(&a.1, "added") + count(&b.1, "added"), lines);
    assert_eq!(count(&a.1, "updated") + count(&b.1, "updated"), lines);
    assert_eq!(
        count(&a.1, "rejected_total") + count(&b.1, "rejected_total"),
        0
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(DISTINCT redemption_code) FILTER (WHERE true) FROM recipients WHERE campaign_id = '{}'",
            campaign.id
        ))
        .await,
        i64::try_from(lines).unwrap()
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM recipients WHERE campaign_id = '{}'",
            campaign.id
        ))
        .await,
        i64::try_from(lines).unwrap()
    );
}

#[tokio::test]
async fn the_list_pages_by_redemption_code_and_q_finds_codes_last_names_and_phones() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let owner = Auth::Bearer(token(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    ));
    let campaign = world.campaign.id;
    let csv = format!(
        "{HEADER}\nAnn,Lee,(212) 555-0101,B-2\nBo,lee,,A-1\nCy,Ng,212.555.0103,B-1\n\
         Di,Doe,,C-9\nEd,Leeds,+1 212 555 0105,A-2\n"
    );
    let (status, _) = import(&app, campaign, &owner, csv).await;
    assert_eq!(status, 200);
    let world_code = app.redemption_code(world.recipient_id).await;
    let mut expected = vec!["A-1", "A-2", "B-1", "B-2", "C-9", world_code.as_str()];
    expected.sort_unstable();
    // Pages of two, in code order, each cursor leading to the next.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let mut url = format!("{}?limit=2", path(campaign));
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = app.api_get(&url, &owner).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            seen.push(item["redemption_code"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    // A manager sees the numbers in full.
    let (_, page) = app
        .api_get(&format!("{}?q=B-2", path(campaign)), &owner)
        .await;
    let item = &page["items"][0];
    assert_eq!(item["phone"], "+12125550101");
    assert_eq!(item["phone_e164"], "+12125550101");
    assert_eq!(item["first_name"], "Ann");
    assert_eq!(item["last_name"], "Lee");
    assert!(item["id"].as_str().unwrap().parse::<Uuid>().is_ok());
    assert!(item["created_at"].is_string());
    let codes = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["redemption_code"].as_str().unwrap().to_owned())
            .collect()
    };
    for (q, found) in [
        ("A-", vec!["A-1", "A-2"]),
        ("LEE", vec!["A-1", "A-2", "B-2"]),
        ("(212) 555-0103", vec!["B-1"]),
        ("%2B1%20212%20555%200105", vec!["A-2"]),
        ("212.555.0101", vec!["B-2"]),
        ("nobody", vec![]),
        ("%25", vec![]),
    ] {
        let (status, page) = app
            .api_get(&format!("{}?q={q}", path(campaign)), &owner)
            .await;
        assert_eq!(status, 200, "{q}: {page}");
        assert_eq!(codes(&page), found, "{q}");
    }
    // Refusals.
    let (status, _) = app
        .api_get(&format!("{}?limit=0", path(campaign)), &owner)
        .await;
    assert_eq!(status, 400);
    let (status, _) = app
        .api_get(&format!("{}?cursor=abc", path(campaign)), &owner)
        .await;
    assert_eq!(status, 400);
    let (status, _) = app.api_get(&path(campaign), &Auth::user(world.agent)).await;
    assert_eq!(status, 403);
    let (status, _) = app.api_get(&path(Uuid::new_v4()), &owner).await;
    assert_eq!(status, 404);
    let (other_client, _) = app.other_client_session().await;
    let other: Uuid = app
        .db
        .query_one(
            "SELECT id FROM campaigns WHERE client_id = $1",
            &[&other_client],
        )
        .await
        .unwrap()
        .get(0);
    let (status, _) = app.api_get(&path(other), &owner).await;
    assert_eq!(status, 404);
}
