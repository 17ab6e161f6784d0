//! The served OpenAPI document is valid, and true: every answer of every operation, for
//! generated requests good and bad, is one the document lists, with a body of its schema; a
//! request the document allows is never refused as invalid, and values it forbids are refused,
//! so a client generated from it never sends what the server refuses.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, FixedOffset, NaiveDate, SecondsFormat, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::TestApp;
use crate::world::token;

async fn served_document(app: &TestApp) -> Value {
    let response = app
        .http
        .get(format!("{}/api/v1/openapi.json", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Everything the OpenAPI 3.1 rules say that a generated client depends on.
fn problems_of(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    if !doc["openapi"]
        .as_str()
        .is_some_and(|v| v.starts_with("3.1."))
    {
        problems.push("openapi is not 3.1.x".into());
    }
    for field in ["title", "version"] {
        if !doc["info"][field].is_string() {
            problems.push(format!("info.{field} missing"));
        }
    }
    let mut operation_ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        if !path.starts_with('/') {
            problems.push(format!("path {path} does not start with /"));
        }
        let templated: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(str::to_owned)
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let name = format!("{method} {path}");
            match op["operationId"].as_str() {
                Some(id) if operation_ids.insert(id.to_owned()) => {}
                Some(id) => problems.push(format!("{name}: operationId {id} is not unique")),
                None => problems.push(format!("{name}: no operationId")),
            }
            let mut declared = BTreeSet::new();
            let mut seen = BTreeSet::new();
            for param in op["parameters"].as_array().into_iter().flatten() {
                let (Some(pname), Some(location)) = (param["name"].as_str(), param["in"].as_str())
                else {
                    problems.push(format!("{name}: a parameter without name or in"));
                    continue;
                };
                if !["query", "path", "header", "cookie"].contains(&location) {
                    problems.push(format!("{name}: {pname} is in {location}"));
                }
                if !seen.insert((pname.to_owned(), location.to_owned())) {
                    problems.push(format!("{name}: {pname} declared twice"));
                }
                if param.get("schema").is_none() {
                    problems.push(format!("{name}: {pname} has no schema"));
                }
                if location == "path" {
                    declared.insert(pname.to_owned());
                    if param["required"] != json!(true) {
                        problems.push(format!("{name}: path parameter {pname} is not required"));
                    }
                    if !templated.contains(pname) {
                        problems.push(format!("{name}: {pname} is in: path but not in the path"));
                    }
                }
            }
            if declared != templated {
                problems.push(format!(
                    "{name}: path parameters {declared:?} != {templated:?}"
                ));
            }
            let responses = op["responses"].as_object();
            if responses.is_none_or(|r| r.is_empty()) {
                problems.push(format!("{name}: no responses"));
            }
            for (status, response) in responses.into_iter().flatten() {
                if status.parse::<u16>().is_err() && status != "default" {
                    problems.push(format!("{name}: response {status} is not a status"));
                }
                if !response["description"].is_string() {
                    problems.push(format!("{name}: response {status} has no description"));
                }
            }
        }
    }
    collect_refs(doc, &mut |reference| {
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer));
        if target.is_none() {
            problems.push(format!("$ref {reference} does not resolve"));
        }
    });
    problems
}

fn collect_refs(value: &Value, found: &mut impl FnMut(&str)) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                found(reference);
            }
            map.values().for_each(|v| collect_refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn the_served_openapi_document_is_valid() {
    let app = TestApp::spawn().await;
    let doc = served_document(&app).await;
    assert_eq!(problems_of(&doc), Vec::<String>::new());
    // The validator itself catches what the old document got wrong.
    let mut broken = doc.clone();
    broken["paths"]["/api/v1/call-sessions"]["get"]["parameters"][0]["in"] = json!("path");
    broken["paths"]["/api/v1/tracked-numbers/{id}"]["patch"]["operationId"] =
        json!("list_call_sessions");
    let problems = problems_of(&broken);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("in: path but not in the path"))
    );
    assert!(problems.iter().any(|p| p.contains("is not unique")));
}

/// One documented operation, and the statuses (with their JSON schemas) it may answer.
struct Operation {
    method: &'static str,
    path: String,
    has_body: bool,
    responses: HashMap<u16, Option<Value>>,
}

fn operations(doc: &Value) -> Vec<Operation> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let responses = op["responses"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(status, r)| {
                    let schema = r["content"]["application/json"]["schema"].clone();
                    (
                        status.parse().unwrap(),
                        (!schema.is_null()).then_some(schema),
                    )
                })
                .collect();
            out.push(Operation {
                method,
                path: path.clone(),
                has_body: op.get("requestBody").is_some(),
                responses,
            });
        }
    }
    out.sort_by(|a, b| (&a.path, a.method).cmp(&(&b.path, b.method)));
    out
}

/// A generated request: which operation, who asks, which id, what query and body.
#[derive(Debug, Clone)]
struct Probe {
    operation: usize,
    auth: usize,
    id: usize,
    free_id: String,
    query: Vec<(String, String)>,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    Json(Value),
    Raw(String, &'static str),
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1000i32..1000).prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        Just(json!("a\u{0}b")),
        Just(json!("+14155550123")),
        Just(json!("415")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("redemption_code".to_owned()),
                    Just("condition_number".to_owned()),
                    Just("notes".to_owned()),
                    Just("area_code".to_owned()),
                    Just("phone_number".to_owned()),
                    Just("forward_to_number".to_owned()),
                    Just("is_active".to_owned()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn probe(operations: usize) -> impl Strategy<Value = Probe> {
    let query_value = prop_oneof![
        Just("completed".to_owned()),
        Just("in-progress".to_owned()),
        Just("matched".to_owned()),
        Just("-4713-01-01T00:00:00Z".to_owned()),
        Just("2026-01-01T00:00:00Z".to_owned()),
        Just("\u{0}".to_owned()),
        (-5i64..300).prop_map(|n| n.to_string()),
        "[ -~]{0,10}",
    ];
    let query_key = prop_oneof![
        Just("campaign_id".to_owned()),
        Just("call_status".to_owned()),
        Just("match_status".to_owned()),
        Just("limit".to_owned()),
        Just("cursor".to_owned()),
        Just("from".to_owned()),
        Just("to".to_owned()),
    ];
    let body = prop_oneof![
        4 => any_json().prop_map(Body::Json),
        1 => "[ -~]{0,20}".prop_map(|raw| Body::Raw(raw, "application/json")),
        1 => Just(Body::Raw("{\"redemption_code\": \"x\"}".into(), "text/plain")),
        1 => Just(Body::Raw(format!("{{\"notes\": \"{}\"}}", "n".repeat(70_000)), "application/json")),
    ];
    (
        0..operations,
        0..5usize,
        0..9usize,
        "[A-Za-z0-9._~-]{0,40}",
        prop::collection::vec((query_key, query_value), 0..4),
        body,
    )
        .prop_map(|(operation, auth, id, free_id, query, body)| Probe {
            operation,
            auth,
            id,
            free_id,
            query,
            body,
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_of_every_operation_is_one_the_document_lists() {
    let app = TestApp::spawn().await;
    let world = app.world(3).await;
    let doc = served_document(&app).await;
    let operations = operations(&doc);
    let owner = app
        .seed_user(&["company_owner"], Some(world.client_id), None)
        .await;
    let key = app.seed_api_key(world.client_id).await;
    let (webhook_endpoint, webhook_message) = webhook_endpoint_of(&app, world.client_id).await;
    let auths = [
        None,
        Some((
            "authorization".to_owned(),
            format!("Bearer {}", token(world.agent)),
        )),
        Some((
            "authorization".to_owned(),
            format!("bearer {}", token(owner)),
        )),
        Some(("x-api-key".to_owned(), key)),
        Some(("authorization".to_owned(), "Bearer not-a-token".to_owned())),
    ];
    let ids = [
        world.session_id.to_string(),
        world.campaign.id.to_string(),
        world.campaign.tracked_number_id.to_string(),
        world.pool_id.to_string(),
        webhook_endpoint.to_string(),
        webhook_message,
        Uuid::new_v4().to_string(),
        "%FF%FE".to_owned(),
    ];
    // Each response schema validates against the whole document, so its $refs resolve.
    let validator_for = |schema: &Value| {
        let mut root = json!({ "components": doc["components"].clone() });
        for (k, v) in schema.as_object().unwrap() {
            root[k] = v.clone();
        }
        jsonschema::validator_for(&root).unwrap()
    };
    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let answered = std::sync::Mutex::new(BTreeSet::new());
    let result = tokio::task::block_in_place(|| {
        // Only the failure's text is kept: the runner's error type is large.
        runner
            .run(&probe(operations.len()), |probe| {
                let op = &operations[probe.operation];
                let id = if probe.id < ids.len() {
                    ids[probe.id].clone()
                } else {
                    probe.free_id.clone()
                };
                // A condition number inside 1..=20, outside it, or not a number.
                let number = ["1", "4", "21", "x"][probe.free_id.len() % 4];
                let path = op.path.replace("{id}", &id).replace("{number}", number);
                let (status, content_type, body) = handle.block_on(async {
                    let mut request = app
                        .http
                        .request(
                            op.method.to_uppercase().parse().unwrap(),
                            format!("{}{path}", app.address),
                        )
                        .query(&probe.query);
                    if let Some((name, value)) = &auths[probe.auth] {
                        request = request.header(name.as_str(), value.as_str());
                    }
                    if op.has_body {
                        request = match &probe.body {
                            Body::Json(value) => request.json(value),
                            Body::Raw(raw, content_type) => request
                                .header("content-type", *content_type)
                                .body(raw.clone()),
                        };
                    }
                    let response = request.send().await.unwrap();
                    let status = response.status().as_u16();
                    let content_type = response
                        .headers()
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    (status, content_type, response.bytes().await.unwrap())
                });
                let name = format!("{} {}", op.method, op.path);
                let Some(schema) = op.responses.get(&status) else {
                    return Err(TestCaseError::fail(format!(
                        "{name} answered {status}, which the document does not list: {probe:?} {}",
                        String::from_utf8_lossy(&body)
                    )));
                };
                answered.lock().unwrap().insert((name.clone(), status));
                if let Some(schema) = schema {
                    prop_assert!(
                        content_type.starts_with("application/json"),
                        "{name} {status}: {content_type}"
                    );
                    let value: Value = serde_json::from_slice(&body).unwrap();
                    let validator = validator_for(schema);
                    let errors: Vec<String> = validator
                        .iter_errors(&value)
                        .map(|e| e.to_string())
                        .collect();
                    prop_assert!(errors.is_empty(), "{name} {status}: {errors:?} in {value}");
                }
                Ok(())
            })
            .map_err(|error| error.to_string())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    // The generator reaches past the front door: successes and refusals of several kinds.
    let seen = answered.into_inner().unwrap();
    let statuses: BTreeSet<u16> = seen.iter().map(|(_, s)| *s).collect();
    for expected in [200, 400, 401, 403, 404] {
        assert!(statuses.contains(&expected), "no {expected} among {seen:?}");
    }
}

/// Validates values against the served document's schemas, formats included, so `$ref`s into
/// its components resolve.
struct Schemas<'d> {
    doc: &'d Value,
}

impl Schemas<'_> {
    fn validator(&self, schema: &Value) -> jsonschema::Validator {
        let mut root = json!({ "components": self.doc["components"].clone() });
        for (k, v) in schema.as_object().unwrap() {
            root[k] = v.clone();
        }
        jsonschema::options()
            .should_validate_formats(true)
            .build(&root)
            .unwrap()
    }

    fn operation(&self, method: &str, path: &str) -> &Value {
        &self.doc["paths"][path][method]
    }

    /// Why `request` is not one the document allows, if it is not.
    fn refusal(&self, request: &ApiRequest) -> Option<String> {
        let op = self.operation(request.method, request.path);
        let mut why = Vec::new();
        let mut given: Vec<(&str, &Value)> =
            request.query.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let id = json!(request.id);
        if request.path.contains("{id}") {
            given.push(("id", &id));
        }
        let number = json!(request.number);
        if request.path.contains("{number}") {
            given.push(("number", &number));
        }
        for (name, value) in given {
            let schema = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == name)
                .map(|p| &p["schema"]);
            match schema {
                None => why.push(format!("no parameter {name}")),
                Some(schema) => why.extend(
                    self.validator(schema)
                        .iter_errors(value)
                        .map(|e| format!("{name}: {e}")),
                ),
            }
        }
        let csv = op["requestBody"]["content"].get("text/csv").is_some();
        match (&request.body, op.get("requestBody")) {
            (None, Some(_)) if csv && request.csv.is_some() => {}
            (Some(body), Some(declared)) => {
                let schema = &declared["content"]["application/json"]["schema"];
                why.extend(
                    self.validator(schema)
                        .iter_errors(body)
                        .map(|e| format!("body: {e} at {}", e.instance_path)),
                );
            }
            (None, None) => {}
            (Some(_), None) => why.push("a body the operation does not take".into()),
            (None, Some(_)) => why.push("no body".into()),
        }
        (!why.is_empty()).then(|| why.join("; "))
    }
}

/// One request to one operation: its id, query (typed as the document types it) and body.
#[derive(Debug, Clone)]
struct ApiRequest {
    method: &'static str,
    path: &'static str,
    id: String,
    query: Vec<(String, Value)>,
    body: Option<Value>,
    /// The condition number of a path with `{number}`.
    number: i32,
    /// A `text/csv` body, for the operations that take one.
    csv: Option<String>,
}

impl ApiRequest {
    async fn send(&self, app: &TestApp, auth: &str) -> (u16, Value) {
        let mut url = reqwest::Url::parse(&format!(
            "{}{}",
            app.address,
            self.path
                .replace("{id}", &self.id)
                .replace("{number}", &self.number.to_string())
        ))
        .unwrap();
        for (name, value) in &self.query {
            let text = value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned);
            url.query_pairs_mut().append_pair(name, &text);
        }
        let mut request = app
            .http
            .request(self.method.to_uppercase().parse().unwrap(), url)
            .bearer_auth(auth);
        if let Some(body) = &self.body {
            request = request.json(body);
        }
        if let Some(csv) = &self.csv {
            request = request.header("content-type", "text/csv").body(csv.clone());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }
}

/// A webhook endpoint of `client` with one failed message: (endpoint, message).
async fn webhook_endpoint_of(app: &TestApp, client: Uuid) -> (Uuid, String) {
    let row = app
        .db
        .query_one(
            "WITH e AS (INSERT INTO webhook_endpoints (client_id, url, events, secret)
                        VALUES ($1, 'https://93.184.215.14/hooks', '{call.started}', 'stored')
                        RETURNING id)
             INSERT INTO webhook_messages (endpoint_id, event_type, subject_id, payload, status)
             SELECT id, 'call.started', gen_random_uuid(), '{\"type\": \"call.started\"}', 'failed'
             FROM e RETURNING endpoint_id, id",
            &[&client],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

/// The operations with an id in their path, and which of the world's ids each takes.
fn id_kind(path: &str) -> Option<IdKind> {
    if path.starts_with("/api/v1/call-sessions/") {
        Some(IdKind::Session)
    } else if path.starts_with("/api/v1/campaigns/") {
        Some(IdKind::Campaign)
    } else if path.starts_with("/api/v1/tracked-numbers/") {
        Some(IdKind::TrackedNumber)
    } else if path.starts_with("/api/v1/gift-card-pools/") {
        Some(IdKind::Pool)
    } else if path.starts_with("/api/v1/webhook-endpoints/") {
        Some(IdKind::WebhookEndpoint)
    } else if path.starts_with("/api/v1/webhook-deliveries/") {
        Some(IdKind::WebhookDelivery)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy)]
enum IdKind {
    Session,
    Campaign,
    TrackedNumber,
    Pool,
    WebhookEndpoint,
    WebhookDelivery,
}

/// An instant as the server reads it and as a client wrote it.
#[derive(Debug, Clone)]
struct Stamp {
    at: DateTime<Utc>,
    text: String,
}

fn stamp_in(at: DateTime<Utc>, offset_seconds: i32, lower_case: bool) -> Stamp {
    let offset = FixedOffset::east_opt(offset_seconds).unwrap();
    let mut text = at
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::AutoSi, true);
    if lower_case {
        text = text.replace('T', "t").replace('Z', "z");
    }
    Stamp { at, text }
}

/// Instants from the first to the last day PostgreSQL and the server take, written in several
/// offsets, and the extremes written exactly.
fn stamp() -> impl Strategy<Value = Stamp> {
    let first = NaiveDate::from_ymd_opt(1, 1, 2)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let last = NaiveDate::from_ymd_opt(9999, 12, 30)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let extreme = |text: &str| {
        let at = text.parse::<DateTime<Utc>>().unwrap();
        Just(Stamp {
            at,
            text: text.to_owned(),
        })
    };
    prop_oneof![
        1 => extreme("0001-01-01T00:00:00Z"),
        1 => extreme("9999-12-31T23:59:59.999999999Z"),
        1 => extreme("0001-01-01T05:00:00-04:00"),
        1 => extreme("9999-12-31T20:00:00+03:00"),
        12 => (
            first.timestamp()..last.timestamp(),
            prop_oneof![Just(0u32), 0u32..1_000_000_000],
            prop::sample::select(vec![0, 19_800, -28_800, 50_400, -43_200]),
            any::<bool>(),
        )
            .prop_map(|(seconds, nanos, offset, lower)| {
                stamp_in(DateTime::from_timestamp(seconds, nanos).unwrap(), offset, lower)
            }),
    ]
}

/// A day's opening intervals: sorted distinct minute marks paired up, so each starts before it
/// ends and none overlaps the next.
fn opening_day() -> impl Strategy<Value = Value> {
    prop::collection::btree_set(0u16..=1440, 0..=6).prop_map(|marks| {
        let marks: Vec<u16> = marks.into_iter().collect();
        let clock = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        Value::from(
            marks
                .chunks_exact(2)
                .map(|pair| json!([clock(pair[0]), clock(pair[1])]))
                .collect::<Vec<_>>(),
        )
    })
}

fn business_hours() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec![
            "America/Chicago",
            "UTC",
            "Europe/London",
            "Asia/Kolkata",
        ]),
        prop::collection::btree_map(
            prop::sample::select(vec!["mon", "tue", "wed", "thu", "fri", "sat", "sun"]),
            opening_day(),
            0..=7,
        ),
    )
        .prop_map(|(timezone, weekly)| json!({ "timezone": timezone, "weekly": weekly }))
}

/// Text the document allows for a setting or a note: no NUL, at most `max` characters.
fn text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[ -~]{0,40}",
        1 => "[\\PC\\s]{0,20}",
        1 => Just("é".repeat(max)),
    ]
    .prop_map(move |t: String| t.chars().filter(|c| *c != '\0').take(max).collect())
}

/// Numbers in use in their numbering plans (the test checks each with the server's own type).
const DIALABLE: [&str; 5] = [
    "+14155550199",
    "+12125550142",
    "+13125550123",
    "+442079460958",
    "+18005550124",
];

fn maybe<T: std::fmt::Debug + Clone + 'static>(
    inner: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Option<T>> {
    prop::option::of(inner)
}

/// Everything a request may carry; [`assemble`] takes what the chosen operation uses.
#[derive(Debug, Clone)]
struct Draw {
    operation: usize,
    known_id: bool,
    query: QueryDraw,
    window: (Option<Stamp>, Option<Stamp>, bool, u16),
    code: (bool, String, u8),
    mark: (i32, Option<String>),
    number: (bool, usize, usize, String),
    flow: FlowDraw,
}

/// Which filters and page a list request gives (indexes pick from the document's enums).
#[derive(Debug, Clone, Copy)]
struct QueryDraw {
    campaign_is_known: Option<bool>,
    call_status: Option<usize>,
    match_status: Option<usize>,
    call_outcome: Option<usize>,
    limit: Option<i64>,
    cursor: Option<usize>,
}

/// A number's settings: each left out, `null`, or a value.
#[derive(Debug, Clone)]
struct FlowDraw {
    whisper: Option<Option<String>>,
    require_keypress: Option<Option<bool>>,
    voicemail: Option<Option<bool>>,
    voicemail_greeting: Option<Option<String>>,
    business_hours: Option<Option<Value>>,
    is_active: Option<Option<bool>>,
}

fn query_draw() -> impl Strategy<Value = QueryDraw> {
    (
        maybe(any::<bool>()),
        maybe(0usize..16),
        maybe(0usize..16),
        maybe(0usize..16),
        maybe(1i64..=200),
        maybe(0usize..4),
    )
        .prop_map(
            |(campaign_is_known, call_status, match_status, call_outcome, limit, cursor)| {
                QueryDraw {
                    campaign_is_known,
                    call_status,
                    match_status,
                    call_outcome,
                    limit,
                    cursor,
                }
            },
        )
}

fn flow_draw() -> impl Strategy<Value = FlowDraw> {
    (
        maybe(maybe(text(500))),
        maybe(maybe(any::<bool>())),
        maybe(maybe(any::<bool>())),
        maybe(maybe(text(500))),
        maybe(maybe(business_hours())),
        maybe(maybe(any::<bool>())),
    )
        .prop_map(
            |(
                whisper,
                require_keypress,
                voicemail,
                voicemail_greeting,
                business_hours,
                is_active,
            )| {
                FlowDraw {
                    whisper,
                    require_keypress,
                    voicemail,
                    voicemail_greeting,
                    business_hours,
                    is_active,
                }
            },
        )
}

fn draw(operations: usize) -> impl Strategy<Value = Draw> {
    (
        0..operations,
        prop::bool::weighted(0.9),
        query_draw(),
        (maybe(stamp()), maybe(stamp()), any::<bool>(), 0u16..=700),
        (any::<bool>(), "[!-~]{1,10}", 0u8..3),
        (
            prop_oneof![3 => 1i32..=4, 1 => 1i32..=i32::MAX],
            maybe(text(2000)),
        ),
        (
            any::<bool>(),
            0..DIALABLE.len(),
            0..DIALABLE.len(),
            "[2-9][0-9]{2}",
        ),
        flow_draw(),
    )
        .prop_map(
            |(operation, known_id, query, window, code, mark, number, flow)| Draw {
                operation,
                known_id,
                query,
                window,
                code,
                mark,
                number,
                flow,
            },
        )
}

/// What the world offers a request: its ids, a real cursor, a recipient's real code.
struct Known {
    session: Uuid,
    campaign: Uuid,
    tracked_number: Uuid,
    pool: Uuid,
    webhook_endpoint: Uuid,
    webhook_message: String,
    cursors: Vec<String>,
    redemption_code: String,
}

/// Builds the request `draw` describes for `operation`: only parameters the operation takes,
/// the document's enums, `from` not after `to`, at most 744 buckets, and an area code or a
/// number to buy (never both), a forward-to number that is not the number itself.
fn assemble(
    doc: &Value,
    (method, path): (&'static str, &'static str),
    draw: &Draw,
    known: &Known,
) -> ApiRequest {
    let op = &doc["paths"][path][method];
    let takes = |name: &str| {
        op["parameters"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "query"))
    };
    let enum_of = |name: &str| -> Vec<Value> {
        let schema = &doc["components"]["schemas"][name]["enum"];
        schema.as_array().cloned().unwrap_or_default()
    };
    let pick = |values: Vec<Value>, i: usize| values[i % values.len()].clone();
    let id = match (id_kind(path), draw.known_id) {
        (Some(IdKind::Session), true) => known.session.to_string(),
        (Some(IdKind::Campaign), true) => known.campaign.to_string(),
        (Some(IdKind::TrackedNumber), true) => known.tracked_number.to_string(),
        (Some(IdKind::Pool), true) => known.pool.to_string(),
        (Some(IdKind::WebhookEndpoint), true) => known.webhook_endpoint.to_string(),
        (Some(IdKind::WebhookDelivery), true) => known.webhook_message.clone(),
        _ => Uuid::new_v4().to_string(),
    };
    let q = draw.query;
    let mut query: Vec<(String, Value)> = Vec::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value.filter(|_| takes(name)) {
            query.push((name.to_owned(), value));
        }
    };
    let campaign = |known_one: bool| {
        json!(if known_one {
            known.campaign
        } else {
            Uuid::new_v4()
        })
    };
    put("campaign_id", q.campaign_is_known.map(campaign));
    put(
        "call_status",
        q.call_status.map(|i| pick(enum_of("CallStatus"), i)),
    );
    put(
        "match_status",
        q.match_status.map(|i| pick(enum_of("MatchStatus"), i)),
    );
    put(
        "call_outcome",
        q.call_outcome.map(|i| pick(enum_of("CallOutcome"), i)),
    );
    put("limit", q.limit.map(Value::from));
    put(
        "cursor",
        q.cursor
            .map(|i| json!(known.cursors[i % known.cursors.len()])),
    );
    let (from, to, hourly, span) = draw.window.clone();
    if path.ends_with("/series") {
        let bucket = if hourly {
            chrono::Duration::hours(1)
        } else {
            chrono::Duration::days(1)
        };
        put("bucket", Some(json!(if hourly { "hour" } else { "day" })));
        // At most 744 buckets: `from` within `span` buckets before `to`, or before now.
        let earliest = "0001-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let before =
            |end: DateTime<Utc>| stamp_in((end - bucket * i32::from(span)).max(earliest), 0, false);
        match (from, to) {
            (Some(_), Some(to)) => {
                put("from", Some(json!(before(to.at).text)));
                put("to", Some(json!(to.text)));
            }
            (Some(_), None) => put("from", Some(json!(before(Utc::now()).text))),
            (None, Some(to)) => put("to", Some(json!(to.text))),
            (None, None) => {}
        }
    } else {
        let (from, to) = match (from, to) {
            (Some(a), Some(b)) if a.at > b.at => (Some(b), Some(a)),
            pair => pair,
        };
        put("from", from.map(|s| json!(s.text)));
        put("to", to.map(|s| json!(s.text)));
    }
    let body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .and_then(|reference| reference.rsplit('/').next())
        .map(|component| body_for(component, draw, known));
    // Unique codes: a card file of the import format, one or two cards.
    let cards = path.contains("gift-card-pools");
    let csv = op["requestBody"]["content"].get("text/csv").map(|_| {
        if !cards {
            return csv_for(draw, known);
        }
        let (number, _) = draw.mark;
        let mut file = String::from("card_code,pin_code,value_amount\n");
        for _ in 0..=number.rem_euclid(2) {
            file.push_str(&format!("GEN-{},,\n", Uuid::new_v4().simple()));
        }
        file
    });
    ApiRequest {
        method,
        path,
        id,
        query,
        body,
        number: draw.mark.0.rem_euclid(20) + 1,
        csv,
    }
}

/// A recipients file: a header in a drawn order, a line with the world's code or a made one
/// (quoted as RFC 4180 quotes), and a line with a phone that is no number.
fn csv_for(draw: &Draw, known: &Known) -> String {
    let (real, made, padding) = draw.code.clone();
    let code = if real {
        known.redemption_code.clone()
    } else {
        made
    };
    let quoted = |field: &str| format!("\"{}\"", field.replace('"', "\"\""));
    let phone = DIALABLE[draw.number.1];
    if padding == 0 {
        format!(
            "first_name,last_name,phone,redemption_code\nAnn,Lee,{phone},{}\nBo,Ng,n/a,{}-2\n",
            quoted(&code),
            quoted(&code)
        )
    } else {
        format!(
            "\u{feff}redemption_code,zip,phone,last_name,first_name\r\n{},94110,{phone},Lee,Ann\r\n",
            quoted(&code)
        )
    }
}

fn body_for(component: &str, draw: &Draw, known: &Known) -> Value {
    let mut body = serde_json::Map::new();
    let settings = draw.flow.clone();
    let flow = |body: &mut serde_json::Map<String, Value>| {
        let mut set = |name: &str, value: Option<Value>| {
            if let Some(value) = value {
                body.insert(name.to_owned(), value);
            }
        };
        set("whisper", settings.whisper.clone().map(|w| json!(w)));
        set(
            "require_keypress",
            settings.require_keypress.map(|k| json!(k)),
        );
        set("voicemail", settings.voicemail.map(|v| json!(v)));
        set(
            "voicemail_greeting",
            settings.voicemail_greeting.clone().map(|g| json!(g)),
        );
        set(
            "business_hours",
            settings.business_hours.clone().map(|h| json!(h)),
        );
    };
    let (exact, phone, forward, area_code) = draw.number.clone();
    // Never the number itself: the pool has five, and the number bought is not the forward.
    let forward_to = DIALABLE[if forward == phone {
        (forward + 1) % DIALABLE.len()
    } else {
        forward
    }];
    match component {
        "LinkRecipientRequest" => {
            let (real, made, padding) = draw.code.clone();
            let code = if real {
                known.redemption_code.clone()
            } else {
                made
            };
            body.insert(
                "redemption_code".into(),
                json!(format!(
                    "{}{code}{}",
                    " ".repeat(padding.into()),
                    " ".repeat(padding.into())
                )),
            );
        }
        "MarkConditionRequest" => {
            let (number, notes) = draw.mark.clone();
            body.insert("condition_number".into(), json!(number));
            if let Some(notes) = notes {
                body.insert("notes".into(), json!(notes));
            }
        }
        "BuyNumberRequest" => {
            if exact {
                body.insert("phone_number".into(), json!(DIALABLE[phone]));
            } else {
                // The pattern's own exclusion: N11 codes hold no numbers.
                let code = if area_code.ends_with("11") {
                    "415".to_owned()
                } else {
                    area_code
                };
                body.insert("area_code".into(), json!(code));
            }
            body.insert("forward_to_number".into(), json!(forward_to));
            flow(&mut body);
        }
        "UpdateNumberRequest" => {
            flow(&mut body);
            if let Some(active) = settings.is_active {
                body.insert("is_active".into(), json!(active));
            }
            // `null` clears a text setting, but leaves a switch as it is.
            let changes = ["whisper", "voicemail_greeting", "business_hours"]
                .iter()
                .any(|k| body.contains_key(*k))
                || ["require_keypress", "voicemail", "is_active"]
                    .iter()
                    .any(|k| body.get(*k).is_some_and(|v| !v.is_null()));
            if exact || !changes {
                // Never the tracked number itself (TRACKED_NUMBER is not in the pool).
                body.insert("forward_to_number".into(), json!(forward_to));
            }
        }
        "CrmEventRequest" => {
            let (real, made, padding) = draw.code.clone();
            let (number, notes) = draw.mark.clone();
            let pad = " ".repeat(padding.into());
            let recipient = match number.rem_euclid(3) {
                0 => json!({"redemption_code": format!("{pad}{}{pad}",
                    if real { known.redemption_code.clone() } else { made })}),
                1 => json!({"phone": if real { "(415) 555-0100" } else { "+1 202 555 0199" }}),
                _ => json!({"recipient_id": Uuid::new_v4()}),
            };
            body.insert("event".into(), json!(format!("{pad}appointment_kept")));
            body.insert("id".into(), json!(format!("evt-{number}-{padding}")));
            body.insert("recipient".into(), recipient);
            if let Some(notes) = notes {
                body.insert("notes".into(), json!(notes));
            }
        }
        "CreateCampaignRequest" => {
            let (number, _) = draw.mark;
            body.insert("name".into(), json!(format!("Generated campaign {number}")));
            if number % 3 == 0 {
                body.insert(
                    "status".into(),
                    json!(STATUSES[number.rem_euclid(6) as usize]),
                );
            }
            if number % 2 == 0 {
                body.insert("mail_date".into(), json!("2026-05-01"));
            }
        }
        "UpdateCampaignRequest" => {
            let (number, _) = draw.mark;
            match number.rem_euclid(5) {
                0 => body.insert("name".into(), json!(format!("Renamed {number}"))),
                1 => body.insert(
                    "status".into(),
                    json!(STATUSES[number.rem_euclid(6) as usize]),
                ),
                2 => body.insert("mail_date".into(), Value::Null),
                3 => body.insert(
                    "recording_retention_days".into(),
                    json!(number.rem_euclid(36_500) + 1),
                ),
                _ => body.insert("recording_retention_days".into(), Value::Null),
            };
        }
        "PutConditionRequest" => {
            let (number, _) = draw.mark;
            body.insert(
                "condition_name".into(),
                json!(format!("Condition {number}")),
            );
            match number.rem_euclid(3) {
                0 => {
                    body.insert("trigger_type".into(), json!("call"));
                    body.insert(
                        "auto_min_talk_seconds".into(),
                        json!(number.rem_euclid(600)),
                    );
                }
                1 => {
                    body.insert("trigger_type".into(), json!("crm_event"));
                    body.insert("crm_event_name".into(), json!("appointment_kept"));
                }
                _ => {
                    body.insert("trigger_type".into(), json!("time_delay"));
                    body.insert("time_delay_hours".into(), json!(number.rem_euclid(72) + 1));
                }
            }
            if number % 2 == 0 {
                body.insert(
                    "reward".into(),
                    json!({
                        "gift_card_pool_id": known.pool,
                        "sms_template": "Hi {first_name}: {card_code} {pin_code}",
                    }),
                );
            }
        }
        "CreatePoolRequest" => {
            let (number, _) = draw.mark;
            body.insert("pool_name".into(), json!(format!("Pool {number}")));
            body.insert(
                "brand_name".into(),
                json!(format!("Brand {}", number.rem_euclid(3))),
            );
            body.insert("value_amount".into(), json!("25.00"));
        }
        "CreateWebhookEndpointRequest" => {
            let (number, notes) = draw.mark.clone();
            // A public address written as such: the test machine resolves no names.
            body.insert(
                "url".into(),
                json!(format!("https://93.184.215.14/hooks/{number}")),
            );
            let n = usize::try_from(number.rem_euclid(5)).unwrap();
            body.insert("events".into(), json!(WEBHOOK_EVENTS[..=n]));
            if let Some(notes) = notes.filter(|n| n.chars().count() <= 500) {
                body.insert("description".into(), json!(notes));
            }
        }
        "UpdateWebhookEndpointRequest" => {
            let (number, _) = draw.mark;
            match number.rem_euclid(5) {
                0 => body.insert(
                    "url".into(),
                    json!(format!("https://93.184.215.14/v2/{number}")),
                ),
                1 => body.insert(
                    "events".into(),
                    json!([WEBHOOK_EVENTS[usize::try_from(number.rem_euclid(5)).unwrap()]]),
                ),
                2 => body.insert("enabled".into(), json!(number % 2 == 0)),
                3 => body.insert("description".into(), Value::Null),
                _ => body.insert("description".into(), json!(format!("Endpoint {number}"))),
            };
        }
        other => panic!("no generator for {other}"),
    }
    Value::Object(body)
}

const URL_OK: &str = "https://93.184.215.14/hooks";

const WEBHOOK_EVENTS: [&str; 5] = [
    "call.started",
    "call.completed",
    "condition.met",
    "reward.delivered",
    "reward.failed",
];

const STATUSES: [&str; 6] = [
    "draft",
    "ready",
    "in_production",
    "mailed",
    "active",
    "completed",
];

/// 422s that depend on the world's state rather than on the request's form: marking a
/// condition that is not active in the campaign.
const STATE_REFUSALS: [&str; 1] = ["inactive_condition"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_document_allows_are_never_refused_as_invalid() {
    let app = TestApp::spawn().await;
    let world = app.world(3).await;
    for number in DIALABLE {
        assert!(
            calltrack::domain::DialableNumber::parse(number).is_ok(),
            "{number}"
        );
    }
    // A second call and a second campaign, so both lists have a next page and a real cursor.
    app.start_call("+14155550101").await;
    app.db
        .execute(
            "INSERT INTO campaigns (client_id, name) VALUES ($1, 'Autumn mailer')",
            &[&world.client_id],
        )
        .await
        .unwrap();
    let owner = token(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    );
    let mut cursors = Vec::new();
    for list in ["/api/v1/call-sessions?limit=1", "/api/v1/campaigns?limit=1"] {
        let page: Value = app
            .http
            .get(format!("{}{list}", app.address))
            .bearer_auth(&owner)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        cursors.push(page["next_cursor"].as_str().unwrap().to_owned());
    }
    let (webhook_endpoint, webhook_message) = webhook_endpoint_of(&app, world.client_id).await;
    let known = Known {
        session: world.session_id,
        campaign: world.campaign.id,
        tracked_number: world.campaign.tracked_number_id,
        pool: world.pool_id,
        webhook_endpoint,
        webhook_message,
        cursors,
        redemption_code: app.redemption_code(world.recipient_id).await,
    };
    let doc = served_document(&app).await;
    let schemas = Schemas { doc: &doc };
    let endpoints: Vec<(&'static str, &'static str)> = operations(&doc)
        .into_iter()
        .map(|op| {
            let path: &'static str = Box::leak(op.path.into_boxed_str());
            (op.method, path)
        })
        .collect();

    let handle = tokio::runtime::Handle::current();
    let mut runner = TestRunner::new(Config {
        cases: 250,
        failure_persistence: None,
        ..Config::default()
    });
    let answered = std::sync::Mutex::new(BTreeSet::new());
    let result = tokio::task::block_in_place(|| {
        runner
            .run(&draw(endpoints.len()), |draw| {
                let request = assemble(&doc, endpoints[draw.operation], &draw, &known);
                if let Some(why) = schemas.refusal(&request) {
                    return Err(TestCaseError::fail(format!(
                        "the generator made a request the document forbids ({why}): {request:?}"
                    )));
                }
                let (status, body) = handle.block_on(request.send(&app, &owner));
                let code = body["error"]["code"].as_str().unwrap_or_default();
                let refused = status == 400 || (status == 422 && !STATE_REFUSALS.contains(&code));
                prop_assert!(
                    !refused && status != 500,
                    "{} {} answered {status} {body} to {request:?}",
                    request.method,
                    request.path
                );
                answered.lock().unwrap().insert((request.path, status));
                Ok(())
            })
            .map_err(|error| error.to_string())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    // The requests went past the front door: pages, details and changes were served.
    let seen = answered.into_inner().unwrap();
    for (path, status) in [
        ("/api/v1/call-sessions", 200),
        ("/api/v1/campaigns/{id}/call-stats/series", 200),
        ("/api/v1/tracked-numbers/{id}", 200),
        ("/api/v1/call-sessions/{id}/conditions", 201),
        ("/api/v1/campaigns", 201),
        ("/api/v1/gift-card-pools/{id}/cards", 200),
        ("/api/v1/campaigns/{id}/recipients", 200),
        ("/api/v1/webhook-endpoints", 201),
    ] {
        assert!(
            seen.contains(&(path, status)),
            "no {status} from {path} among {seen:?}"
        );
    }
}

#[tokio::test]
async fn values_the_document_forbids_are_refused() {
    let app = TestApp::spawn().await;
    let world = app.world(0).await;
    let owner = token(
        app.seed_user(&["company_owner"], Some(world.client_id), None)
            .await,
    );
    let doc = served_document(&app).await;
    let schemas = Schemas { doc: &doc };
    let get = |path: &'static str, id: Uuid, query: Value| ApiRequest {
        method: "get",
        path,
        id: id.to_string(),
        query: query
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        body: None,
        number: 1,
        csv: None,
    };
    let with_body = |method: &'static str, path: &'static str, id: Uuid, body: Value| ApiRequest {
        method,
        path,
        id: id.to_string(),
        query: Vec::new(),
        body: Some(body),
        number: 1,
        csv: None,
    };
    let (campaign, session, number) = (
        world.campaign.id,
        world.session_id,
        world.campaign.tracked_number_id,
    );
    let sessions = "/api/v1/call-sessions";
    let series = "/api/v1/campaigns/{id}/call-stats/series";
    let stats = "/api/v1/campaigns/{id}/call-stats";
    let export = "/api/v1/campaigns/{id}/call-sessions.csv";
    let recipients = "/api/v1/campaigns/{id}/recipients";
    let link = "/api/v1/call-sessions/{id}/recipient";
    let mark = "/api/v1/call-sessions/{id}/conditions";
    let buy = "/api/v1/campaigns/{id}/tracked-numbers";
    let update = "/api/v1/tracked-numbers/{id}";
    let deliveries = "/api/v1/webhook-endpoints/{id}/deliveries";
    let endpoints = "/api/v1/webhook-endpoints";
    let endpoint = "/api/v1/webhook-endpoints/{id}";
    let listing = |query: Value| get(sessions, campaign, query);
    let linking = |body: Value| with_body("post", link, session, body);
    let marking = |body: Value| with_body("post", mark, session, body);
    let updating = |body: Value| with_body("patch", update, number, body);
    let buying_exactly = |body: Value| with_body("post", buy, campaign, body);
    // A good purchase, but for what `extra` adds or changes.
    let buying = |extra: Value| {
        let mut body = json!({ "area_code": "415", "forward_to_number": "+14155550199" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        buying_exactly(body)
    };
    let hours = |weekly: Value| json!({ "business_hours": { "timezone": "America/Chicago", "weekly": weekly } });
    let forbidden = [
        listing(json!({ "limit": 0 })),
        listing(json!({ "limit": 201 })),
        listing(json!({ "limit": "ten" })),
        listing(json!({ "cursor": "" })),
        listing(json!({ "cursor": "abc" })),
        listing(json!({ "cursor": "!".repeat(90) })),
        listing(json!({ "cursor": "A".repeat(97) })),
        listing(json!({ "from": "" })),
        listing(json!({ "from": "yesterday" })),
        listing(json!({ "from": "0000-06-01T00:00:00Z" })),
        listing(json!({ "from": "2026-13-01T00:00:00Z" })),
        listing(json!({ "from": "2026-02-30T00:00:00Z" })),
        listing(json!({ "to": "0001-01-01T00:30:00+01:00" })),
        listing(json!({ "to": "9999-12-31T23:30:00-01:00" })),
        listing(json!({ "call_status": "queued" })),
        listing(json!({ "match_status": "maybe" })),
        listing(json!({ "call_outcome": "hung-up" })),
        listing(json!({ "campaign_id": "campaign-1" })),
        get("/api/v1/campaigns", campaign, json!({ "limit": 0 })),
        get("/api/v1/campaigns", campaign, json!({ "cursor": "" })),
        get(series, campaign, json!({ "bucket": "week" })),
        get(series, campaign, json!({ "bucket": "" })),
        get(series, campaign, json!({ "to": "10000-01-01T00:00:00Z" })),
        get(stats, campaign, json!({ "from": "-4713-01-01T00:00:00Z" })),
        get(export, campaign, json!({ "to": "2026-01-01" })),
        get(recipients, campaign, json!({ "limit": 0 })),
        get(recipients, campaign, json!({ "limit": 201 })),
        get(recipients, campaign, json!({ "cursor": "" })),
        get(recipients, campaign, json!({ "cursor": "!".repeat(60) })),
        get(recipients, campaign, json!({ "cursor": "A".repeat(1117) })),
        get(recipients, campaign, json!({ "q": "a\u{0}" })),
        get(recipients, campaign, json!({ "q": "q".repeat(201) })),
        linking(json!({})),
        linking(json!({ "redemption_code": "" })),
        linking(json!({ "redemption_code": "  \t " })),
        linking(json!({ "redemption_code": "\u{85}" })),
        linking(json!({ "redemption_code": "A1\u{0}" })),
        linking(json!({ "redemption_code": "x".repeat(201) })),
        linking(json!({ "redemption_code": 42 })),
        linking(json!({ "redemption_code": "A1", "code": "A1" })),
        marking(json!({})),
        marking(json!({ "condition_number": 0 })),
        marking(json!({ "condition_number": 2_147_483_648_i64 })),
        marking(json!({ "condition_number": "1" })),
        marking(json!({ "condition_number": 1, "notes": "a\u{0}" })),
        marking(json!({ "condition_number": 1, "notes": "n".repeat(2001) })),
        buying_exactly(json!({ "forward_to_number": "+14155550199" })),
        buying_exactly(json!({ "area_code": "415" })),
        buying(json!({ "phone_number": "+14155550123" })),
        buying(json!({ "area_code": "015" })),
        buying(json!({ "area_code": "411" })),
        buying(json!({ "area_code": "4155" })),
        buying_exactly(json!({ "phone_number": "n/a", "forward_to_number": "+14155550199" })),
        buying(json!({ "forward_to_number": "call me" })),
        buying(json!({ "whisper": "a\u{0}" })),
        buying(json!({ "whisper": "w".repeat(501) })),
        buying(json!({ "business_hours": { "timezone": "Mars/Olympus", "weekly": {} } })),
        buying(hours(json!({ "mon": [["08:00", "25:00"]] }))),
        buying(hours(json!({ "mon": [["24:00", "24:00"]] }))),
        buying(hours(json!({ "mon": [["22:00", "00:00"]] }))),
        buying(hours(json!({ "fun": [] }))),
        buying(hours(json!({ "mon": [["08:00"]] }))),
        buying(json!({ "recording": true })),
        updating(json!({})),
        updating(json!({ "forward_to_number": null })),
        updating(json!({ "is_active": null, "voicemail": null })),
        updating(json!({ "is_active": "yes" })),
        updating(json!({ "forward_to_number": "14155550199x" })),
        updating(json!({ "voicemail_greeting": "g\u{0}" })),
        updating(json!({ "whisper": "w".repeat(501) })),
        with_body("post", "/api/v1/campaigns", campaign, json!({})),
        with_body(
            "post",
            "/api/v1/campaigns",
            campaign,
            json!({ "name": "x", "budget": 1 }),
        ),
        with_body(
            "post",
            "/api/v1/campaigns",
            campaign,
            json!({ "name": "x", "mail_date": "May" }),
        ),
        with_body(
            "patch",
            "/api/v1/campaigns/{id}",
            campaign,
            json!({ "recording_retention_days": "90" }),
        ),
        with_body(
            "put",
            "/api/v1/campaigns/{id}/conditions/{number}",
            campaign,
            json!({ "trigger_type": "call" }),
        ),
        with_body(
            "put",
            "/api/v1/campaigns/{id}/conditions/{number}",
            campaign,
            json!({ "condition_name": "c", "trigger_type": "call", "reward": {} }),
        ),
        with_body(
            "post",
            "/api/v1/gift-card-pools",
            campaign,
            json!({ "pool_name": "P", "brand_name": "B" }),
        ),
        with_body(
            "post",
            "/api/v1/gift-card-pools",
            campaign,
            json!({ "pool_name": " ", "brand_name": "B", "value_amount": "5" }),
        ),
        with_body(
            "post",
            "/api/v1/campaigns",
            campaign,
            json!({ "name": "\t" }),
        ),
        with_body(
            "post",
            "/api/v1/campaigns",
            campaign,
            json!({ "name": "x", "status": "paused" }),
        ),
        with_body(
            "patch",
            "/api/v1/campaigns/{id}",
            campaign,
            json!({ "recording_retention_days": 0 }),
        ),
        with_body(
            "put",
            "/api/v1/campaigns/{id}/conditions/{number}",
            campaign,
            json!({ "condition_name": "c", "trigger_type": "sms" }),
        ),
        with_body(
            "put",
            "/api/v1/campaigns/{id}/conditions/{number}",
            campaign,
            json!({ "condition_name": "c", "trigger_type": "time_delay", "time_delay_hours": 0 }),
        ),
        with_body(
            "put",
            "/api/v1/campaigns/{id}/conditions/{number}",
            campaign,
            json!({ "condition_name": "c", "trigger_type": "call", "auto_min_talk_seconds": -1 }),
        ),
        get(deliveries, campaign, json!({ "limit": 0 })),
        get(deliveries, campaign, json!({ "limit": 201 })),
        get(deliveries, campaign, json!({ "cursor": "abc" })),
        with_body("post", endpoints, campaign, json!({ "url": URL_OK })),
        with_body(
            "post",
            endpoints,
            campaign,
            json!({ "url": URL_OK, "events": "call.started" }),
        ),
        with_body(
            "post",
            endpoints,
            campaign,
            json!({ "url": URL_OK, "events": [], "secret": "whsec_x" }),
        ),
        with_body("patch", endpoint, campaign, json!({ "enabled": "yes" })),
        with_body(
            "patch",
            endpoint,
            campaign,
            json!({ "description": "d".repeat(501) }),
        ),
    ];

    let mut wrong = Vec::new();
    for request in &forbidden {
        assert!(
            schemas.refusal(request).is_some(),
            "the document allows what this test calls forbidden: {request:?}"
        );
        let (status, body) = request.send(&app, &owner).await;
        if ![400, 422].contains(&status) {
            wrong.push(format!("{status} {body} for {request:?}"));
        }
    }
    assert_eq!(wrong, Vec::<String>::new());
    // Ids that are not UUIDs cannot name anything: the document says uuid, the server 404.
    let not_an_id = ApiRequest {
        id: "42".into(),
        ..get("/api/v1/campaigns/{id}", campaign, json!({}))
    };
    assert!(schemas.refusal(&not_an_id).is_some());
    assert_eq!(not_an_id.send(&app, &owner).await.0, 404);
    // Nothing a refused request carried reached Twilio or the numbers.
    assert_eq!(app.twilio.received_requests().await.unwrap().len(), 0);
}
