//! `.env.example`, the README's configuration table and the code name the same variables.
//!
//! What the code reads is found by running it: every settings constructor is called with a
//! lookup that answers from `.env.example` and records each name it is asked for. Variables
//! read straight from the process environment (`std::env::var("...")` in `src/`, such as
//! `RUST_LOG` for the log filter) count too: they are found by scanning the source, so a new
//! one cannot slip past this test.
#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use calltrack::config::{
    ConfigError, DatabaseSource, DemoSettings, GiftCardImportSettings, NumbersSettings,
    ReconcileSettings, Settings, SimulateSettings,
};
use calltrack::telemetry::LogFormat;
use calltrack::trial::{self, TrialError};

const ENV_EXAMPLE: &str = include_str!("../.env.example");
const README: &str = include_str!("../README.md");

/// Read from the environment in `src/` but not calltrack's settings: the system's search path,
/// where the PostgreSQL binaries and the load generators are looked for.
const NOT_SETTINGS: [&str; 1] = ["PATH"];

/// `.env.example`'s variables: those set to their default, and those commented out (no fixed
/// default, or required) with an example value.
struct EnvExample {
    set: BTreeMap<String, String>,
    commented: BTreeMap<String, String>,
}

impl EnvExample {
    fn parse() -> Self {
        // The set lines as calltrack reads a `.env`, through dotenvy.
        let set: BTreeMap<String, String> = dotenvy::from_read_iter(ENV_EXAMPLE.as_bytes())
            .map(|pair| pair.expect(".env.example is not a valid .env file"))
            .collect();
        let mut commented = BTreeMap::new();
        for line in ENV_EXAMPLE.lines() {
            let Some(rest) = line.strip_prefix('#') else {
                continue;
            };
            if let Some((name, value)) = rest.trim_start().split_once('=')
                && is_variable_name(name)
            {
                let repeated = commented.insert(name.to_owned(), value.to_owned());
                assert!(
                    repeated.is_none(),
                    "{name} is commented twice in .env.example"
                );
            }
        }
        for name in set.keys() {
            assert!(
                !commented.contains_key(name),
                "{name} is both set and commented in .env.example"
            );
        }
        Self { set, commented }
    }

    fn names(&self) -> BTreeSet<String> {
        self.set
            .keys()
            .chain(self.commented.keys())
            .cloned()
            .collect()
    }
}

fn is_variable_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The backticked names in the first column of the README's configuration table.
fn readme_table() -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let section = README
        .lines()
        .skip_while(|line| !line.starts_with("## Configuration"))
        .skip(1)
        .take_while(|line| !line.starts_with("## "));
    for line in section.filter(|line| line.starts_with('|')) {
        let first = line.split('|').nth(1).unwrap_or_default();
        for (i, part) in first.split('`').enumerate() {
            if i % 2 == 1 && is_variable_name(part) {
                names.insert(part.to_owned());
            }
        }
    }
    assert!(!names.is_empty(), "README.md has no ## Configuration table");
    names
}

/// A lookup that answers from `answers` and records every name it is asked for.
struct Recorder<'a> {
    answers: BTreeMap<String, String>,
    asked: &'a RefCell<BTreeSet<String>>,
}

impl Recorder<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.asked.borrow_mut().insert(name.to_owned());
        self.answers.get(name).cloned()
    }
}

/// What a constructor said: fine, or the required variables it missed. Any other refusal
/// (an example value that does not parse) fails the test.
type Outcome = Result<(), Vec<&'static str>>;

type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// A settings constructor, called with a lookup.
type Constructor = Box<dyn Fn(Lookup) -> Outcome>;

fn missing(error: ConfigError) -> Vec<&'static str> {
    match error {
        ConfigError::Missing(names) => names,
        invalid @ ConfigError::Invalid { .. } => panic!(".env.example: {invalid}"),
    }
}

fn trial_missing(error: TrialError) -> Vec<&'static str> {
    match error {
        TrialError::Config(error) => missing(error),
        other => panic!("{other}"),
    }
}

/// Every top-level settings constructor of `src/config.rs`, by name. (The lab's commands read
/// the database through [`DatabaseSource`] and the log format through [`LogFormat`].)
fn config_constructors() -> Vec<(&'static str, Constructor)> {
    vec![
        (
            "Settings",
            Box::new(|env| Settings::from_lookup(&env).map(drop).map_err(missing)),
        ),
        (
            "NumbersSettings",
            Box::new(|env| {
                NumbersSettings::from_lookup(&env)
                    .map(drop)
                    .map_err(missing)
            }),
        ),
        (
            "ReconcileSettings",
            Box::new(|env| {
                ReconcileSettings::from_lookup(&env)
                    .map(drop)
                    .map_err(missing)
            }),
        ),
        (
            "GiftCardImportSettings",
            Box::new(|env| {
                GiftCardImportSettings::from_lookup(&env)
                    .map(drop)
                    .map_err(missing)
            }),
        ),
        (
            "SimulateSettings",
            Box::new(|env| {
                SimulateSettings::from_lookup(&env)
                    .map(drop)
                    .map_err(missing)
            }),
        ),
        (
            "DemoSettings",
            Box::new(|env| DemoSettings::from_lookup(&env).map(drop).map_err(missing)),
        ),
        (
            "DatabaseSource",
            Box::new(|env| {
                DatabaseSource::from_lookup(&env);
                Ok(())
            }),
        ),
        (
            "LogFormat",
            Box::new(|env| {
                LogFormat::from_lookup(&env);
                Ok(())
            }),
        ),
    ]
}

/// The local trial's settings functions, which read the environment around the constructors.
fn trial_constructors() -> Vec<(&'static str, Constructor)> {
    vec![
        (
            "trial::serve_settings",
            Box::new(|env| trial::serve_settings(&env).map(drop).map_err(trial_missing)),
        ),
        (
            "trial::simulate_settings",
            Box::new(|env| {
                trial::simulate_settings(&env)
                    .map(drop)
                    .map_err(trial_missing)
            }),
        ),
    ]
}

/// Calls `constructor` with `answers`, adding the commented example of each required variable
/// it names as missing until it is satisfied. Returns the required variables it needed.
fn satisfy(
    name: &str,
    constructor: &dyn Fn(Lookup) -> Outcome,
    mut answers: BTreeMap<String, String>,
    example: &EnvExample,
    asked: &RefCell<BTreeSet<String>>,
) -> BTreeSet<String> {
    let mut required = BTreeSet::new();
    loop {
        let recorder = Recorder {
            answers: answers.clone(),
            asked,
        };
        match constructor(&|var: &str| recorder.get(var)) {
            Ok(()) => return required,
            Err(names) => {
                for var in names {
                    let value = example.commented.get(var).unwrap_or_else(|| {
                        panic!("{name} requires {var}, which .env.example has no example of")
                    });
                    assert!(
                        required.insert(var.to_owned()),
                        "{name} still misses {var} when it is set"
                    );
                    answers.insert(var.to_owned(), value.clone());
                }
            }
        }
    }
}

/// Every name the constructors ask for: once with `.env.example`'s defaults (plus examples of
/// the required variables), once with every example set too, so that both sides of each
/// "unset means ..." branch are asked.
fn asked_by_constructors(example: &EnvExample) -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    let everything: BTreeMap<String, String> = example
        .set
        .iter()
        .chain(&example.commented)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut required = BTreeSet::new();
    for (name, constructor) in config_constructors() {
        required.extend(satisfy(
            name,
            &*constructor,
            example.set.clone(),
            example,
            &asked,
        ));
        satisfy(name, &*constructor, everything.clone(), example, &asked);
    }
    // The trial writes a secrets file into CALLTRACK_DATA_DIR when a required variable is
    // missing: give it every required one from the start, and a data directory of its own.
    let data_dir =
        std::env::temp_dir().join(format!("calltrack-configuration-{}", std::process::id()));
    let mut defaults = example.set.clone();
    for var in &required {
        defaults.insert(var.clone(), example.commented[var].clone());
    }
    for mut answers in [defaults, everything] {
        answers.insert(
            "CALLTRACK_DATA_DIR".to_owned(),
            data_dir.display().to_string(),
        );
        for (name, constructor) in trial_constructors() {
            let needed = satisfy(name, &*constructor, answers.clone(), example, &asked);
            assert!(
                needed.is_empty(),
                "{name} needed {needed:?} beyond {required:?}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&data_dir);
    asked.into_inner()
}

/// Names read with `std::env::var("NAME")` or `std::env::var_os("NAME")` anywhere in `src/`.
fn read_directly() -> BTreeSet<String> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut names = BTreeSet::new();
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        for call in ["env::var(\"", "env::var_os(\""] {
            for (at, _) in source.match_indices(call) {
                let rest = &source[at + call.len()..];
                let name = &rest[..rest.find('"').unwrap_or(0)];
                if is_variable_name(name) {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

/// `left - right`, for a failure message.
fn minus(left: &BTreeSet<String>, right: &BTreeSet<String>) -> Vec<String> {
    left.difference(right).cloned().collect()
}

#[test]
fn env_example_the_readme_table_and_the_code_name_the_same_variables() {
    let example = EnvExample::parse();
    let in_example = example.names();
    let in_readme = readme_table();
    let mut in_code = asked_by_constructors(&example);
    in_code.extend(
        read_directly()
            .into_iter()
            .filter(|name| !NOT_SETTINGS.contains(&name.as_str())),
    );

    assert!(
        in_example == in_code && in_readme == in_code,
        "the variables differ:\n\
         read by the code, missing from .env.example: {:?}\n\
         in .env.example, never read by the code: {:?}\n\
         read by the code, missing from README.md's configuration table: {:?}\n\
         in README.md's configuration table, never read by the code: {:?}",
        minus(&in_code, &in_example),
        minus(&in_example, &in_code),
        minus(&in_code, &in_readme),
        minus(&in_readme, &in_code),
    );
}

#[test]
fn the_defaults_in_env_example_are_the_ones_the_code_uses() {
    // With .env.example's set values, serve's settings equal those of an empty environment.
    let example = EnvExample::parse();
    let required = [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "JWT_SECRET",
        "GIFT_CARD_KEY",
    ];
    let with = |set: bool| {
        let mut answers: BTreeMap<String, String> = if set {
            example.set.clone()
        } else {
            BTreeMap::new()
        };
        for var in required {
            answers.insert(var.to_owned(), example.commented[var].clone());
        }
        Settings::from_lookup(&|name: &str| answers.get(name).cloned()).unwrap()
    };
    let (defaults, nothing) = (with(true), with(false));
    macro_rules! same {
        ($($field:ident).+, $name:literal) => {
            assert_eq!(
                defaults.$($field).+,
                nothing.$($field).+,
                ".env.example's {} is not the code's default",
                $name
            )
        };
    }
    same!(bind_addr, "BIND_ADDR");
    same!(public_base_url, "PUBLIC_BASE_URL (unset: from BIND_ADDR)");
    same!(twilio.api_base_url, "TWILIO_API_BASE_URL");
    same!(voice.record_calls, "RECORD_CALLS");
    same!(voice.recording_notice, "RECORDING_NOTICE");
    same!(db_deadline, "VOICE_DEADLINE_MS");
    same!(api_deadline, "API_DEADLINE_MS");
    same!(spool_dir, "CALLTRACK_DATA_DIR");
    same!(webhook_writers, "WEBHOOK_WRITERS");
    same!(outbox.poll_interval, "OUTBOX_POLL_MS");
    same!(
        webhooks.allow_private_networks,
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS"
    );
    same!(webhooks.concurrency, "WEBHOOK_DELIVERY_CONCURRENCY");
    same!(reconcile_on_start, "RECONCILE_ON_START");
}
