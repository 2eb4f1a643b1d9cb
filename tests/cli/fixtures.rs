//! Small valid manifests the cases start from; each case breaks one thing.
//! Line numbers in the cases' expected locations refer to these texts.

/// A model with a Production and a Staging version.
///
/// Lines: 4 `name`, 8 version 1, 9 its `stage`, 12 version 2, 13 its `stage`,
/// 14 its `source`, 15 its `training_run_id`.
pub const CHURN: &str = "\
apiVersion: modelops/v1
kind: Model
metadata:
  name: churn-predictor
  owner: ml-platform
spec:
  versions:
    - version: 1
      stage: Production
      source: runs:/run1/model
      training_run_id: run1
    - version: 2
      stage: Staging
      source: runs:/run2/model
      training_run_id: run2
";

/// A canary deployment of [`CHURN`] version 2 in three stages.
///
/// Lines: 6 `model`, 7 `target`, 8 `canary`, 9 `model_version`, 11/13/15
/// the stages' `traffic_percent`, 12/14/16 their `duration`.
pub const CANARY: &str = "\
apiVersion: modelops/v1
kind: Deployment
metadata:
  name: churn-predictor
spec:
  model: churn-predictor
  target: local
  canary:
    model_version: 2
    stages:
      - traffic_percent: 10
        duration: 1h
      - traffic_percent: 50
        duration: 4h
      - traffic_percent: 100
        duration: 1d
";

/// An A/B test of [`CHURN`] version 2 against version 1.
///
/// Lines: 9 `control`, 10 `treatment`, 12 `duration`.
pub const AB_TEST: &str = "\
apiVersion: modelops/v1
kind: Deployment
metadata:
  name: churn-predictor
spec:
  model: churn-predictor
  target: local
  ab_test:
    control: {version: 1, traffic_percent: 50}
    treatment: {version: 2, traffic_percent: 50}
    primary_metric: conversion_rate
    duration: 14d
    min_sample_size: 1000
";

/// Where the model manifest goes.
pub const CHURN_FILE: &str = "models/churn-predictor.yaml";

/// Where the deployment goes.
pub const DEPLOY_FILE: &str = "deployments/churn-predictor.yaml";

/// A `default` policy that turns every gate off, for tests about something
/// else (registry mechanics, the stage graph) whose manifests are minimal.
pub const NO_GATES_POLICY: &str = "\
apiVersion: modelops/v1
kind: Policy
metadata: {name: default}
spec:
  staging: &none {metrics: {}, fairness_min: null, signature: {required: false}, latency_p99_max_ms: null, require_pinned_dependencies: false}
  production: *none
  production_requires: {rollout_evidence: false, approvals: []}
";

/// Where [`NO_GATES_POLICY`] goes.
pub const POLICY_FILE: &str = "policies/default.yaml";
