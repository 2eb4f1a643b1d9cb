//! The signature MLflow logged with a model: read from the `MLmodel` file
//! beside the model's artifacts, parsed into modelops' [`Signature`], so a
//! gate can compare it with the one declared in git.
//!
//! The file is fetched from the tracking server ([`logged_signature`]); which call
//! serves it depends on the version's `source`.

mod served;

pub use crate::state::LoggedSignature;
pub use served::{
    FileRequest, LoggedModel, ModelLocation, find_logged_model, location_of, logged_model_file,
    logged_signature, run_file, search_logged_model,
};

use serde_json::{Map, Value};

use crate::manifest::model::{SIGNATURE_TYPES, Signature, SignatureColumn};
use crate::manifest::yaml;

/// MLflow's composite column types (MLflow 2.10+), which a modelops
/// signature cannot declare.
const COMPOSITE_TYPES: &[&str] = &["array", "object", "map", "any"];

/// The signature in an `MLmodel` file's text, `None` when the model was
/// logged without one.
///
/// MLflow writes `signature.inputs` and `signature.outputs` as JSON strings
/// of column specs (`{"type": "double", "name": "x", "required": true}`) or
/// tensor specs (`{"type": "tensor", "tensor-spec": {"dtype": "float64",
/// "shape": [-1, 4]}}`). A column is `optional: Some(true)` only when MLflow
/// marks it `required: false`, as a manifest would write it. A tensor's
/// numpy dtype becomes the MLflow column type holding it, with its `shape`.
/// A column MLflow logged without a name (typically an output) gets the
/// empty name, which no declared column has. `signature.params` has no
/// place in a modelops signature and is not read. An `inputs: null` (MLflow
/// allows an outputs-only signature) reads as no input columns.
///
/// Errors say which part of the file is malformed or cannot be expressed
/// (composite types such as `array`, tensor dtypes without a column type).
pub fn signature_of_mlmodel(text: &str) -> Result<Option<Signature>, String> {
    let doc: Value = yaml::typed(text).map_err(|e| {
        let message = e.without_snippet().to_string();
        format!(
            "MLmodel is not valid YAML: {}",
            message.lines().next().unwrap_or("").trim()
        )
    })?;
    let doc = match doc {
        Value::Object(doc) => doc,
        Value::Null => return Err("MLmodel is empty".to_string()),
        _ => return Err("MLmodel is not a YAML mapping".to_string()),
    };
    let signature = match doc.get("signature") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(s)) => s,
        Some(_) => return Err("`signature` in MLmodel is not a mapping".to_string()),
    };
    Ok(Some(Signature {
        inputs: columns(signature, "inputs")?,
        outputs: columns(signature, "outputs")?,
    }))
}

/// The columns of `signature.<which>`, a JSON string of specs (or null).
fn columns(signature: &Map<String, Value>, which: &str) -> Result<Vec<SignatureColumn>, String> {
    let at = format!("signature.{which}");
    let text = match signature.get(which) {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(text)) => text,
        Some(_) => return Err(format!("{at} is not a JSON string, as MLflow writes it")),
    };
    let specs: Value =
        serde_json::from_str(text).map_err(|e| format!("{at} is not valid JSON: {e}"))?;
    let Value::Array(specs) = specs else {
        return Err(format!("{at} is not a JSON list of column specs"));
    };
    specs
        .iter()
        .enumerate()
        .map(|(i, spec)| column(&format!("{at}[{i}]"), spec))
        .collect()
}

/// One column or tensor spec.
fn column(at: &str, spec: &Value) -> Result<SignatureColumn, String> {
    let Value::Object(spec) = spec else {
        return Err(format!("{at} is not a JSON object"));
    };
    let name = match spec.get("name") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err(format!("{at}: `name` is not a string")),
    };
    let at = if name.is_empty() {
        at.to_string()
    } else {
        format!("{at} (`{name}`)")
    };
    let optional = match spec.get("required") {
        None | Some(Value::Bool(true)) => None,
        Some(Value::Bool(false)) => Some(true),
        Some(_) => return Err(format!("{at}: `required` is not true or false")),
    };
    let (column_type, shape) = match spec.get("type").and_then(Value::as_str) {
        None => return Err(format!("{at} has no `type`")),
        Some("tensor") => tensor(&at, spec)?,
        Some(t) if SIGNATURE_TYPES.contains(&t) => (t, None),
        Some(t) if COMPOSITE_TYPES.contains(&t) => {
            return Err(format!(
                "{at} has MLflow type `{t}`, which a modelops signature cannot declare \
                 (it takes {})",
                SIGNATURE_TYPES.join(", ")
            ));
        }
        Some(t) => return Err(format!("{at} has unknown type `{t}`")),
    };
    Ok(SignatureColumn {
        name,
        column_type: column_type.to_string(),
        shape,
        optional,
    })
}

/// A tensor spec's column type and shape.
fn tensor(at: &str, spec: &Map<String, Value>) -> Result<(&'static str, Option<Vec<i64>>), String> {
    let Some(Value::Object(tensor)) = spec.get("tensor-spec") else {
        return Err(format!("{at} is a tensor without a `tensor-spec` object"));
    };
    let dtype = tensor
        .get("dtype")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{at}: `tensor-spec` has no `dtype`"))?;
    let column_type = column_type_of_dtype(dtype).ok_or_else(|| {
        format!(
            "{at}: tensor dtype `{dtype}` has no MLflow column type \
             (float64, float32, int64, int32, bool, str, object and bytes have)"
        )
    })?;
    let shape = tensor
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|dims| dims.iter().map(Value::as_i64).collect::<Option<Vec<_>>>())
        .ok_or_else(|| format!("{at}: `tensor-spec` has no `shape` list of integers"))?;
    Ok((column_type, Some(shape)))
}

/// The MLflow column type holding a numpy dtype's values, as MLflow maps
/// them between tensor and column schemas.
fn column_type_of_dtype(dtype: &str) -> Option<&'static str> {
    Some(match dtype {
        "float64" => "double",
        "float32" => "float",
        "int64" => "long",
        "int32" => "integer",
        "bool" => "boolean",
        "str" | "object" => "string",
        "bytes" => "binary",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `mlflow.pyfunc.log_model` in MLflow 3.17.2 with an explicit
    /// `ModelSignature` of column specs, one of them `required=False`.
    const COLUMNS: &str = r#"artifact_path: /tmp/sigsrv/artifacts/1/models/m-391d492e66164697a3f39ea6ce6e2918/artifacts
flavors:
  python_function:
    cloudpickle_version: 3.1.3
    code: null
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
    python_version: 3.11.7
    streamable: false
is_signature_from_type_hint: false
mlflow_version: 3.17.2
model_id: m-391d492e66164697a3f39ea6ce6e2918
model_size_bytes: 1339
model_uuid: m-391d492e66164697a3f39ea6ce6e2918
prompts: null
run_id: 4ce42fcc665a45a99f3535e5417610ba
signature:
  inputs: '[{"type": "double", "name": "x", "required": true}, {"type": "long", "name":
    "n", "required": false}, {"type": "string", "name": "s", "required": true}]'
  outputs: '[{"type": "double", "name": "score", "required": true}]'
  params: null
type_hint_from_example: false
utc_time_created: '2026-11-26 14:28:24.278434'
"#;

    /// The same with a `ModelSignature` of `TensorSpec`s; the output is unnamed.
    const TENSORS: &str = r#"artifact_path: /tmp/sigsrv/artifacts/1/models/m-1caed231342242cf9504138e6a6a42c4/artifacts
flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
mlflow_version: 3.17.2
model_id: m-1caed231342242cf9504138e6a6a42c4
run_id: 100519813834474287910d5147e31bf2
signature:
  inputs: '[{"name": "features", "type": "tensor", "tensor-spec": {"dtype": "float64",
    "shape": [-1, 4]}}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
  params: null
utc_time_created: '2026-11-26 14:28:26.572307'
"#;

    /// `infer_signature(DataFrame, ndarray, params=...)`, saved with `save_model`.
    const INFERRED: &str = r#"flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
mlflow_version: 3.17.2
model_id: null
signature:
  inputs: '[{"type": "long", "name": "age", "required": true}, {"type": "double",
    "name": "income", "required": true}, {"type": "string", "name": "plan", "required":
    true}, {"type": "boolean", "name": "active", "required": true}]'
  outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]'
  params: '[{"name": "threshold", "default": 0.5, "shape": null, "type": "double"}]'
"#;

    /// `save_model` without a signature: MLflow writes no `signature` key.
    const UNSIGNED: &str = r#"flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
    python_model: python_model.pkl
mlflow_version: 3.17.2
model_id: null
model_uuid: 9f5c9a27f36a401f96d0f2a56e9044ab
prompts: null
utc_time_created: '2026-11-26 14:30:19.541268'
"#;

    /// An input of `Array("string")`, and `outputs: null`.
    const ARRAY: &str = r#"flavors:
  python_function:
    loader_module: mlflow.pyfunc.model
mlflow_version: 3.17.2
signature:
  inputs: '[{"type": "array", "items": {"type": "string"}, "name": "tags", "required":
    true}]'
  outputs: null
  params: null
"#;

    fn col(name: &str, ty: &str, shape: Option<&[i64]>, optional: Option<bool>) -> SignatureColumn {
        SignatureColumn {
            name: name.to_string(),
            column_type: ty.to_string(),
            shape: shape.map(<[i64]>::to_vec),
            optional,
        }
    }

    fn with(inputs: &str, outputs: &str) -> String {
        format!(
            "mlflow_version: 3.17.2\nsignature:\n  inputs: '{inputs}'\n  outputs: '{outputs}'\n"
        )
    }

    #[test]
    fn mlflow_signatures_are_read() {
        let cases: Vec<(&str, String, Option<Signature>)> = vec![
            (
                "column specs",
                COLUMNS.to_string(),
                Some(Signature {
                    inputs: vec![
                        col("x", "double", None, None),
                        col("n", "long", None, Some(true)),
                        col("s", "string", None, None),
                    ],
                    outputs: vec![col("score", "double", None, None)],
                }),
            ),
            (
                "tensor specs",
                TENSORS.to_string(),
                Some(Signature {
                    inputs: vec![col("features", "double", Some(&[-1, 4]), None)],
                    outputs: vec![col("", "long", Some(&[-1]), None)],
                }),
            ),
            (
                "inferred, with params",
                INFERRED.to_string(),
                Some(Signature {
                    inputs: vec![
                        col("age", "long", None, None),
                        col("income", "double", None, None),
                        col("plan", "string", None, None),
                        col("active", "boolean", None, None),
                    ],
                    outputs: vec![col("", "double", Some(&[-1]), None)],
                }),
            ),
            ("no signature", UNSIGNED.to_string(), None),
            ("null signature", "signature: null\n".to_string(), None),
            (
                "outputs only",
                "signature:\n  inputs: null\n  outputs: '[{\"type\": \"float\", \"name\": \"p\"}]'\n"
                    .to_string(),
                Some(Signature {
                    inputs: vec![],
                    outputs: vec![col("p", "float", None, None)],
                }),
            ),
            (
                "every tensor dtype",
                with(
                    &format!(
                        "[{}]",
                        ["float64", "float32", "int64", "int32", "bool", "str", "object", "bytes"]
                            .map(|d| format!(
                                r#"{{"type": "tensor", "tensor-spec": {{"dtype": "{d}", "shape": [-1]}}, "name": "{d}"}}"#
                            ))
                            .join(", ")
                    ),
                    "[]",
                ),
                Some(Signature {
                    inputs: [
                        ("float64", "double"),
                        ("float32", "float"),
                        ("int64", "long"),
                        ("int32", "integer"),
                        ("bool", "boolean"),
                        ("str", "string"),
                        ("object", "string"),
                        ("bytes", "binary"),
                    ]
                    .map(|(d, t)| col(d, t, Some(&[-1]), None))
                    .to_vec(),
                    outputs: vec![],
                }),
            ),
        ];
        for (what, text, want) in cases {
            assert_eq!(signature_of_mlmodel(&text), Ok(want), "{what}");
        }
    }

    #[test]
    fn malformed_or_inexpressible_signatures_are_errors() {
        let tensor = |dtype: &str, shape: &str| {
            with(
                &format!(
                    r#"[{{"type": "tensor", "tensor-spec": {{"dtype": "{dtype}", "shape": {shape}}}, "name": "t"}}]"#
                ),
                "[]",
            )
        };
        let cases = [
            (
                ARRAY.to_string(),
                "signature.inputs[0] (`tags`) has MLflow type `array`, which a modelops signature cannot declare",
            ),
            (
                tensor("float16", "[-1]"),
                "signature.inputs[0] (`t`): tensor dtype `float16` has no MLflow column type",
            ),
            (
                tensor("float64", "[-1, 2.5]"),
                "signature.inputs[0] (`t`): `tensor-spec` has no `shape` list of integers",
            ),
            (
                with("[{\"type\": \"tensor\", \"name\": \"t\"}]", "[]"),
                "signature.inputs[0] (`t`) is a tensor without a `tensor-spec` object",
            ),
            (
                with("[{\"name\": \"x\"}]", "[]"),
                "signature.inputs[0] (`x`) has no `type`",
            ),
            (
                with("[{\"type\": \"decimal\"}]", "[]"),
                "signature.inputs[0] has unknown type `decimal`",
            ),
            (
                with(
                    "[{\"type\": \"double\", \"name\": \"x\", \"required\": \"no\"}]",
                    "[]",
                ),
                "signature.inputs[0] (`x`): `required` is not true or false",
            ),
            (
                with("[{\"type\": \"double\", \"name\": 3}]", "[]"),
                "signature.inputs[0]: `name` is not a string",
            ),
            (
                with("[]", "[1]"),
                "signature.outputs[0] is not a JSON object",
            ),
            (
                with("[{\"type\": ", "[]"),
                "signature.inputs is not valid JSON: ",
            ),
            (
                with("{}", "[]"),
                "signature.inputs is not a JSON list of column specs",
            ),
            (
                "signature:\n  inputs: [1]\n".to_string(),
                "signature.inputs is not a JSON string, as MLflow writes it",
            ),
            (
                "signature: yes please\n".to_string(),
                "`signature` in MLmodel is not a mapping",
            ),
            ("- a\n- b\n".to_string(), "MLmodel is not a YAML mapping"),
            ("".to_string(), "MLmodel is empty"),
            (
                "signature: {inputs: '[]'\n".to_string(),
                "MLmodel is not valid YAML: ",
            ),
        ];
        for (text, want) in cases {
            let got = signature_of_mlmodel(&text).expect_err(want);
            assert!(got.starts_with(want), "{got}\n  wanted: {want}");
        }
    }
}
