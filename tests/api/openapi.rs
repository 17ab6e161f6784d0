//! The served OpenAPI document is valid, and true: every answer of every operation, for
//! generated requests good and bad, is one the document lists, with a body of its schema.

use std::collections::{BTreeSet, HashMap};

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
        0..6usize,
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
                let path = op.path.replace("{id}", &id);
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
