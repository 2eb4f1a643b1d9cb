//! The apply lock: a registered model whose creation is atomic in MLflow,
//! with a lease after which another apply may take it over.

use super::*;

impl MlflowRegistry {
    /// Who holds the lock and whether their lease has run out, or `None`
    /// when nobody holds it.
    pub fn lock_holder(&self) -> Result<Option<(String, bool)>, BackendError> {
        match self.client.send(&request::get_registered_model(LOCK_MODEL)) {
            Ok(v) => {
                let tags = tags_of(&v["registered_model"]);
                let holder = tags
                    .get(&format!("{PREFIX}lock.holder"))
                    .cloned()
                    .unwrap_or_else(|| "another apply".into());
                let expired = tags
                    .get(&format!("{PREFIX}lock.expires"))
                    .and_then(|t| t.parse::<Timestamp>().ok())
                    .is_some_and(|t| t < Timestamp::now());
                Ok(Some((holder, expired)))
            }
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// Removes the lock whoever holds it (`modelops unlock --force`).
    pub fn remove_lock(&self) -> Result<bool, BackendError> {
        match self
            .client
            .send(&request::delete_registered_model(LOCK_MODEL))
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("RESOURCE_DOES_NOT_EXIST") => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    /// Takes the apply lock: creates [`LOCK_MODEL`], waiting up to `timeout`
    /// and taking over a holder whose lease ran out.
    pub(super) fn take_lock(
        &mut self,
        timeout: std::time::Duration,
        command: &str,
    ) -> Result<(), BackendError> {
        let started = std::time::Instant::now();
        loop {
            let now = Timestamp::now();
            let expires = now + jiff::SignedDuration::try_from(LOCK_LEASE).unwrap_or_default();
            let holder = format!(
                "pid {} ({}@{}, `{command}`) since {}",
                std::process::id(),
                crate::backend::local::whoami(),
                crate::backend::local::hostname(),
                now.strftime("%Y-%m-%dT%H:%M:%SZ")
            );
            let tags = vec![
                (format!("{PREFIX}lock.holder"), holder.clone()),
                (format!("{PREFIX}lock.expires"), expires.to_string()),
            ];
            match self.client.send(&request::create_registered_model(
                LOCK_MODEL,
                Some(&holder),
                &tags,
            )) {
                Ok(_) => {
                    self.locked = true;
                    return Ok(());
                }
                Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => {
                    let (holder, expired) = self
                        .lock_holder()?
                        .unwrap_or(("another apply".into(), false));
                    if expired {
                        // The holder's lease ran out (a cancelled job): take it over.
                        self.send(&request::delete_registered_model(LOCK_MODEL))?;
                        continue;
                    }
                    if started.elapsed() >= timeout {
                        return Err(BackendError::Locked {
                            path: self.describe(),
                            holder,
                            waited_secs: started.elapsed().as_secs(),
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(500));
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }

    /// Releases the lock this process took (no-op otherwise).
    pub(super) fn release_lock(&mut self) -> Result<(), BackendError> {
        if self.locked {
            self.send(&request::delete_registered_model(LOCK_MODEL))?;
            self.locked = false;
        }
        Ok(())
    }
}
