//! The local trial's secrets file: the values `serve` generated for the variables a trial
//! leaves unset, kept owner-only under `CALLTRACK_DATA_DIR` so that every later start (and
//! `calltrack simulate`) uses the same ones.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rand::Rng as _;

use crate::crypto::random_secret;

/// The file's name under `CALLTRACK_DATA_DIR`.
pub const FILE_NAME: &str = "trial-secrets.env";

/// How often a first start re-reads the file after another process created it first.
const CREATE_ATTEMPTS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot read the trial secrets in {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write the trial secrets to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} line {line} is not NAME=value")]
    Malformed { path: PathBuf, line: usize },
    #[error("{path} kept changing while it was being created; start again")]
    Contended { path: PathBuf },
}

/// The values the file holds, by variable name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrialSecrets {
    values: BTreeMap<String, String>,
}

impl TrialSecrets {
    /// The value kept for `name`, if the file has one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Reads the file at `path`; `None` when there is none yet.
    pub fn load(path: &Path) -> Result<Option<Self>, SecretsError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(SecretsError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        let mut values = BTreeMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, value) = line
                .split_once('=')
                .filter(|(name, value)| !name.is_empty() && !value.is_empty())
                .ok_or_else(|| SecretsError::Malformed {
                    path: path.to_owned(),
                    line: n + 1,
                })?;
            values.insert(name.trim().to_owned(), value.trim().to_owned());
        }
        Ok(Some(Self { values }))
    }

    /// The file at `path` with a value for each of `names`: those it lacks are generated and
    /// the file written (created owner-only, or replaced whole, never seen half written).
    /// Returns the secrets and the names generated now.
    pub fn ensure(
        path: &Path,
        names: &[&'static str],
    ) -> Result<(Self, Vec<&'static str>), SecretsError> {
        for _ in 0..CREATE_ATTEMPTS {
            let existing = Self::load(path)?;
            let existed = existing.is_some();
            let mut secrets = existing.unwrap_or_default();
            let generated: Vec<&'static str> = names
                .iter()
                .copied()
                .filter(|name| secrets.get(name).is_none())
                .collect();
            if generated.is_empty() {
                return Ok((secrets, generated));
            }
            for name in &generated {
                secrets.values.insert((*name).to_owned(), generate(name));
            }
            if secrets.publish(path, existed)? {
                return Ok((secrets, generated));
            }
            // Another process created the file first: use its values, not ours.
        }
        Err(SecretsError::Contended {
            path: path.to_owned(),
        })
    }

    /// Writes the file through a temporary one. A first file is linked into place, which
    /// fails if another process created one meanwhile (then false); an existing file is
    /// replaced by a rename.
    fn publish(&self, path: &Path, replace: bool) -> Result<bool, SecretsError> {
        let write_error = |source| SecretsError::Write {
            path: path.to_owned(),
            source,
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(write_error)?;
        let temporary = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let written = self.write_new(&temporary);
        let published = written.and_then(|()| {
            if replace {
                fs::rename(&temporary, path).map(|()| true)
            } else {
                match fs::hard_link(&temporary, path) {
                    Ok(()) => Ok(true),
                    Err(error) if error.kind() == io::ErrorKind::AlreadyExists => Ok(false),
                    Err(error) => Err(error),
                }
            }
        });
        // Gone after a rename; a leftover after a link or a failure.
        let _ = fs::remove_file(&temporary);
        let published = published.map_err(write_error)?;
        // The new name must survive a crash as the content does.
        fs::File::open(dir)
            .and_then(|dir| dir.sync_all())
            .map_err(write_error)?;
        Ok(published)
    }

    /// Writes the file's text to `path`, a file created here readable by its owner only.
    fn write_new(&self, path: &Path) -> io::Result<()> {
        // A temporary file left by a crashed start of this same process id.
        let _ = fs::remove_file(path);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        let mut text = String::from(
            "# calltrack local trial: secrets `calltrack serve` generated because they were not set.\n\
             # `calltrack simulate` reads them too. A variable set in the environment (or .env)\n\
             # is used instead of the value here; delete this file to have new ones generated.\n",
        );
        for (name, value) in &self.values {
            text.push_str(&format!("{name}={value}\n"));
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()
    }
}

/// A made-up value for `name`, in the shape the real one has.
fn generate(name: &str) -> String {
    let mut rng = rand::thread_rng();
    match name {
        // Twilio's shapes: `AC` and 32 hex digits; a token of 32 hex digits.
        "TWILIO_ACCOUNT_SID" => format!("AC{:032x}", rng.r#gen::<u128>()),
        "TWILIO_AUTH_TOKEN" => format!("{:032x}", rng.r#gen::<u128>()),
        // JWT_SECRET and GIFT_CARD_KEY (which must decode to exactly 32 bytes).
        _ => random_secret(32),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    const NAMES: [&str; 4] = [
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "JWT_SECRET",
        "GIFT_CARD_KEY",
    ];

    #[test]
    fn a_first_start_creates_an_owner_only_file_and_a_second_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join(FILE_NAME);

        let (first, generated) = TrialSecrets::ensure(&path, &NAMES).unwrap();
        assert_eq!(generated, NAMES);
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(crate::config::parse_gift_card_key(first.get("GIFT_CARD_KEY").unwrap()).is_ok());
        assert!(first.get("TWILIO_ACCOUNT_SID").unwrap().starts_with("AC"));

        let (second, generated) = TrialSecrets::ensure(&path, &NAMES).unwrap();
        assert!(generated.is_empty());
        assert_eq!(second, first);
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers, [FILE_NAME]);
    }

    #[test]
    fn a_value_the_file_lacks_is_added_and_the_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let (first, _) = TrialSecrets::ensure(&path, &NAMES[..2]).unwrap();

        let (second, generated) = TrialSecrets::ensure(&path, &NAMES).unwrap();

        assert_eq!(generated, NAMES[2..]);
        for name in &NAMES[..2] {
            assert_eq!(second.get(name), first.get(name));
        }
        assert_eq!(TrialSecrets::load(&path).unwrap(), Some(second));
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_file_created_by_another_start_meanwhile_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let theirs = TrialSecrets {
            values: NAMES
                .iter()
                .map(|n| ((*n).to_owned(), "theirs".to_owned()))
                .collect(),
        };
        theirs.publish(&path, false).unwrap();
        let ours = TrialSecrets::default();

        assert!(!ours.publish(&path, false).unwrap());
        assert_eq!(TrialSecrets::load(&path).unwrap(), Some(theirs));
    }

    #[test]
    fn a_line_that_is_not_name_value_is_refused_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, "# comment\nJWT_SECRET=x\nnonsense\n").unwrap();
        assert!(matches!(
            TrialSecrets::load(&path).unwrap_err(),
            SecretsError::Malformed { line: 3, .. }
        ));
        assert_eq!(
            TrialSecrets::load(&dir.path().join("absent")).unwrap(),
            None
        );
    }
}
