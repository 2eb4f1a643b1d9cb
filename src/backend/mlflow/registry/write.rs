//! The registry writes ([`RegistryOps`]) as REST calls, following
//! [`super::super::mapping`]; several models at once through `Writer`s.

use super::*;

/// Writes through a shared reference, so that several models are written at
/// once ([`Registry::writers`]); the caches are behind locks.
pub(super) struct Writer<'r>(pub(super) &'r MlflowRegistry);

impl RegistryOps for Writer<'_> {
    fn register_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let tags = vec![(format!("{PREFIX}owner"), owner.to_string())];
        match this
            .client
            .send(&request::create_registered_model(model, description, &tags))
        {
            // A new model: no events yet, so its chain starts at genesis
            // (nothing to read back before its first event).
            Ok(_) => {
                lock(&this.heads)
                    .entry(model.to_string())
                    .or_insert_with(|| (0, crate::state::chain::genesis()));
            }
            // Done by an earlier, interrupted apply: converge.
            Err(e) if e.code() == Some("RESOURCE_ALREADY_EXISTS") => {
                this.send(&request::set_registered_model_tag(
                    model,
                    &format!("{PREFIX}owner"),
                    owner,
                ))?;
            }
            Err(e) => return Err(backend(e)),
        }
        lock(&this.next_number)
            .entry(model.to_string())
            .or_insert(1);
        Ok(())
    }

    fn update_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        let this = self.0;
        this.send(&request::update_registered_model(
            model,
            description.unwrap_or(""),
        ))?;
        this.send(&request::set_registered_model_tag(
            model,
            &format!("{PREFIX}owner"),
            owner,
        ))?;
        Ok(())
    }

    fn register_version(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
        metadata: &VersionMetadata,
        _at: Timestamp,
    ) -> Result<(), BackendError> {
        self.create_version(model, version, stage, metadata, None, None)
    }

    /// One `model-versions/create` carrying every tag: the metadata, the
    /// stage it is registered at, the digest, a rejection, and the steps'
    /// events (chained to the model's last); then `transition-stage` and the
    /// stage alias.
    /// Cut short after the create, the version shows at MLflow's `None`
    /// stage with modelops' stage tag naming another: the plan lists it as
    /// changed outside git and the next apply moves it.
    fn register_version_recorded(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
        metadata: &VersionMetadata,
        rejection: Option<&Rejection>,
        records: Vec<StepRecord>,
        ctx: &ApplyContext,
    ) -> Result<(), BackendError> {
        let lines: Vec<&str> = records.iter().map(|r| r.line.as_str()).collect();
        let rejection = rejection.map(|r| serde_json::to_string(r).expect("rejections serialize"));
        self.create_version(
            model,
            version,
            stage,
            metadata,
            rejection,
            Some((&lines, ctx)),
        )
    }

    fn registers_where_moved(&self) -> bool {
        true
    }

    fn end_model(&mut self, model: &str) -> Result<(), BackendError> {
        self.0.write_head(model)
    }

    fn update_version(
        &mut self,
        model: &str,
        version: &VersionId,
        metadata: &VersionMetadata,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let number = this.number(model, version)?;
        let current = lock(&this.versions)
            .get(&(model.to_string(), version.clone()))
            .map(|o| o.tags.clone())
            .unwrap_or_default();
        let mut wanted = version_tags(&version.to_string(), metadata);
        wanted.push((DIGEST_TAG.to_string(), metadata.digest()));
        if let Some(stage) = current.get(STAGE_TAG) {
            wanted.push((STAGE_TAG.to_string(), stage.clone()));
        }
        let (set, delete) = tag_changes(&current, &wanted);
        this.send(&request::update_model_version(
            model,
            number,
            metadata.changelog.as_deref().unwrap_or(""),
        ))?;
        for (k, v) in &set {
            this.send(&request::set_model_version_tag(model, number, k, v))?;
        }
        for k in &delete {
            this.send(&request::delete_model_version_tag(model, number, k))?;
        }
        Ok(())
    }

    fn set_stage(
        &mut self,
        model: &str,
        version: &VersionId,
        from: Stage,
        to: Stage,
    ) -> Result<(), BackendError> {
        let number = self.0.number(model, version)?;
        self.0.transition(model, number, from, to, true)
    }

    fn set_rejection(
        &mut self,
        model: &str,
        version: &VersionId,
        rejection: &Rejection,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let number = this.number(model, version)?;
        let value = serde_json::to_string(rejection).expect("rejections serialize");
        this.send(&request::set_model_version_tag(
            model,
            number,
            REJECTED_TAG,
            &value,
        ))?;
        if let Some(o) = lock(&this.versions).get_mut(&(model.to_string(), version.clone())) {
            o.tags.insert(REJECTED_TAG.to_string(), value);
        }
        Ok(())
    }

    fn record_sign_off(
        &mut self,
        model: &str,
        version: &VersionId,
        approvers: &str,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let number = this.number(model, version)?;
        this.send(&request::set_model_version_tag(
            model,
            number,
            mapping::APPROVERS_TAG,
            approvers,
        ))?;
        if let Some(o) = lock(&this.versions).get_mut(&(model.to_string(), version.clone())) {
            o.tags
                .insert(mapping::APPROVERS_TAG.to_string(), approvers.to_string());
        }
        Ok(())
    }

    fn clear_rejection(&mut self, model: &str, version: &VersionId) -> Result<(), BackendError> {
        let this = self.0;
        let number = this.number(model, version)?;
        let key = (model.to_string(), version.clone());
        let rejected = lock(&this.versions)
            .get(&key)
            .is_some_and(|o| o.tags.contains_key(REJECTED_TAG));
        if rejected {
            this.send(&request::delete_model_version_tag(
                model,
                number,
                REJECTED_TAG,
            ))?;
            if let Some(o) = lock(&this.versions).get_mut(&key) {
                o.tags.remove(REJECTED_TAG);
            }
        }
        Ok(())
    }

    fn record_rollout(&mut self, model: &str, record: &RolloutRecord) -> Result<(), BackendError> {
        let value = serde_json::to_string(record).expect("rollout records serialize");
        self.0.send(&request::set_registered_model_tag(
            model,
            ROLLOUT_TAG,
            &value,
        ))?;
        Ok(())
    }

    fn record_event(&mut self, record: StepRecord, ctx: &ApplyContext) -> Result<(), BackendError> {
        let event = &record.event;
        // Events are tags on a version: a model's own steps have no place,
        // and a rollout's progress is its model's rollout tag.
        let Some(version) = &event.version else {
            return Ok(());
        };
        if event.action == "record_rollout" {
            return Ok(());
        }
        let number = self.0.number(&event.model, version)?;
        self.0.record(&event.model, number, ctx, &record.line)
    }
}

/// Each write through a `Writer` on this registry.
impl RegistryOps for MlflowRegistry {
    fn register_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        Writer(self).register_model(model, owner, description)
    }
    fn update_model(
        &mut self,
        model: &str,
        owner: &str,
        description: Option<&str>,
    ) -> Result<(), BackendError> {
        Writer(self).update_model(model, owner, description)
    }
    fn register_version(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
        metadata: &VersionMetadata,
        at: Timestamp,
    ) -> Result<(), BackendError> {
        Writer(self).register_version(model, version, stage, metadata, at)
    }
    fn update_version(
        &mut self,
        model: &str,
        version: &VersionId,
        metadata: &VersionMetadata,
    ) -> Result<(), BackendError> {
        Writer(self).update_version(model, version, metadata)
    }
    fn set_stage(
        &mut self,
        model: &str,
        version: &VersionId,
        from: Stage,
        to: Stage,
    ) -> Result<(), BackendError> {
        Writer(self).set_stage(model, version, from, to)
    }
    fn set_rejection(
        &mut self,
        model: &str,
        version: &VersionId,
        rejection: &Rejection,
    ) -> Result<(), BackendError> {
        Writer(self).set_rejection(model, version, rejection)
    }
    fn clear_rejection(&mut self, model: &str, version: &VersionId) -> Result<(), BackendError> {
        Writer(self).clear_rejection(model, version)
    }
    fn record_rollout(&mut self, model: &str, record: &RolloutRecord) -> Result<(), BackendError> {
        Writer(self).record_rollout(model, record)
    }
    fn record_sign_off(
        &mut self,
        model: &str,
        version: &VersionId,
        approvers: &str,
    ) -> Result<(), BackendError> {
        Writer(self).record_sign_off(model, version, approvers)
    }
    fn record_event(&mut self, record: StepRecord, ctx: &ApplyContext) -> Result<(), BackendError> {
        Writer(self).record_event(record, ctx)
    }
}

impl Writer<'_> {
    /// [`RegistryOps::register_version`], with the events of the steps as
    /// tags of the create when given (their lines, context).
    fn create_version(
        &mut self,
        model: &str,
        version: &VersionId,
        stage: Stage,
        metadata: &VersionMetadata,
        rejection: Option<String>,
        events: Option<(&[&str], &ApplyContext)>,
    ) -> Result<(), BackendError> {
        let this = self.0;
        let next = lock(&this.next_number).get(model).copied().unwrap_or(1);
        if let VersionId::Number(n) = version
            && *n != next
        {
            return Err(BackendError::Conflict(format!(
                "MLflow numbers versions itself: the next version of {model} is {next}, but git declares {n}; \
                 versions are never renumbered, so declare {next} (or register the missing ones) in git"
            )));
        }
        let mut tags = version_tags(&version.to_string(), metadata);
        tags.push((STAGE_TAG.to_string(), stage.as_str().to_string()));
        tags.push((DIGEST_TAG.to_string(), metadata.digest()));
        if let Some(r) = rejection {
            tags.push((REJECTED_TAG.to_string(), r));
        }
        // Each event chains to the one before, so the head moves as they
        // are made; it is kept only once the create succeeded.
        let mut head = None;
        if let Some((lines, ctx)) = events {
            let before = this.head_of(model)?;
            for line in lines {
                let (key, value, next) = this.event_tag(model, ctx, line)?;
                tags.push((key, value));
                lock(&this.heads).insert(model.to_string(), next.clone());
                head = Some(next);
            }
            lock(&this.heads).insert(model.to_string(), before);
        }
        let run_id = metadata
            .source
            .strip_prefix("runs:/")
            .and_then(|r| r.split('/').next())
            .map(str::to_string);
        let created = this.send(&request::create_model_version(
            model,
            &metadata.source,
            run_id.as_deref(),
            metadata.changelog.as_deref(),
            &tags,
        ))?;
        let number: u64 = text(&created["model_version"], "version")
            .parse()
            .unwrap_or(0);
        if let Some(head) = head {
            this.moved_head(model, head);
        }
        lock(&this.next_number).insert(model.to_string(), number + 1);
        lock(&this.versions).insert(
            (model.to_string(), version.clone()),
            Observed {
                number,
                tags: tags.into_iter().collect(),
            },
        );
        if let VersionId::Number(n) = version
            && *n != number
        {
            return Err(BackendError::Conflict(format!(
                "MLflow registered {model} as version {number}, not {n} as git declares: another client registered a version meanwhile; \
                 it is left as it is (versions are never deleted)"
            )));
        }
        if stage != Stage::Development {
            this.transition(model, number, Stage::Development, stage, false)?;
        }
        Ok(())
    }
}
