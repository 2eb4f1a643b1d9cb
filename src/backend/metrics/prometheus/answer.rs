//! Prometheus' answer to an instant query, read into one number: the JSON
//! envelope, vectors and scalars, errors in words — without a network.

use serde::Deserialize;
use serde_json::Value;

use crate::backend::metrics::{MetricsError, Unanswered, Unavailable};
use crate::http::redact;

#[derive(Deserialize)]
struct Answer {
    status: String,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    #[serde(rename = "resultType")]
    result_type: String,
    result: Value,
}

/// Prometheus' answer (HTTP status and body) as the value of a query:
/// `Ok(None)` for no data — an empty vector, or NaN, which is what
/// `histogram_quantile` gives over a window without requests. Errors say
/// what went wrong without the server's address (the caller adds it).
pub fn read_answer(status: u16, body: &str) -> Result<Option<f64>, MetricsError> {
    let answer: Answer = match serde_json::from_str(body) {
        Ok(a) => a,
        Err(_) if !(200..300).contains(&status) => {
            return Err(MetricsError::unavailable(format!(
                "HTTP {status}: {}",
                redact::snippet(body, &[])
            )));
        }
        Err(e) => {
            return Err(MetricsError::Malformed(format!(
                "the answer is not Prometheus' JSON ({e}): {}",
                redact::snippet(body, &[])
            )));
        }
    };
    if answer.status != "success" {
        return Err(MetricsError::Unavailable(Unavailable::new(
            Unanswered::Query,
            format!(
                "Prometheus refused the query: {}: {}",
                answer.error_type.as_deref().unwrap_or("error"),
                answer.error.as_deref().unwrap_or("(no message)")
            ),
        )));
    }
    let Some(data) = answer.data else {
        return Err(MetricsError::Malformed(
            "the answer has status success but no data".to_string(),
        ));
    };
    match data.result_type.as_str() {
        "vector" => {
            let series = data.result.as_array().map(Vec::as_slice).unwrap_or(&[]);
            match series {
                [] => Ok(None),
                [one] => sample_value(&one["value"]),
                many => Err(MetricsError::Malformed(format!(
                    "the query returned {} series ({}); it must aggregate to one series, \
                     for instance with sum(...) or avg(...)",
                    many.len(),
                    many.iter()
                        .take(3)
                        .map(|s| labels(&s["metric"]))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        }
        "scalar" => sample_value(&data.result),
        other => Err(MetricsError::Malformed(format!(
            "the query returned a {other}, not an instant vector or a scalar \
             (a range selector without a function around it?)"
        ))),
    }
}

/// `[<time>, "<value>"]`: the value, NaN as no data.
fn sample_value(sample: &Value) -> Result<Option<f64>, MetricsError> {
    let text = sample.get(1).and_then(Value::as_str).ok_or_else(|| {
        MetricsError::Malformed(format!("a sample is not [time, \"value\"]: {sample}"))
    })?;
    let value: f64 = text
        .parse()
        .map_err(|_| MetricsError::Malformed(format!("the value {text:?} is not a number")))?;
    if value.is_nan() {
        Ok(None)
    } else if value.is_infinite() {
        Err(MetricsError::Malformed(format!(
            "the value is {text}: a ratio over nothing?"
        )))
    } else {
        Ok(Some(value))
    }
}

fn labels(metric: &Value) -> String {
    let pairs = metric
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    format!("{{{pairs}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an answer should read as.
    #[derive(Debug)]
    enum Want {
        Value(f64),
        NoData,
        Unavailable(&'static str),
        Malformed(&'static str),
    }

    #[test]
    fn answers_read_as_one_number_or_no_data() {
        use Want::*;
        let ok = |result_type: &str, result: &str| {
            format!(
                r#"{{"status":"success","data":{{"resultType":"{result_type}","result":{result}}}}}"#
            )
        };
        let cases: Vec<(u16, String, Want)> = vec![
            (200, ok("vector", r#"[{"metric":{},"value":[1795564800,"6000"]}]"#), Value(6000.0)),
            (200, ok("vector", r#"[{"metric":{"model":"m"},"value":[1795564800.5,"0.961"]}]"#), Value(0.961)),
            (200, ok("vector", "[]"), NoData),
            // histogram_quantile over a window without requests.
            (200, ok("vector", r#"[{"metric":{},"value":[1,"NaN"]}]"#), NoData),
            (200, ok("vector", r#"[{"metric":{},"value":[1,"+Inf"]}]"#), Malformed("+Inf")),
            (200, ok("scalar", r#"[1795564800,"42.5"]"#), Value(42.5)),
            (200, ok("scalar", r#"[1795564800,"NaN"]"#), NoData),
            (
                200,
                ok("vector", r#"[{"metric":{"code":"200"},"value":[1,"1"]},{"metric":{"code":"500"},"value":[1,"2"]}]"#),
                Malformed(r#"returned 2 series ({code="200"}, {code="500"}); it must aggregate to one series"#),
            ),
            (200, ok("matrix", "[]"), Malformed("a matrix, not an instant vector")),
            (200, ok("string", r#"[1,"x"]"#), Malformed("a string")),
            (200, ok("vector", r#"[{"metric":{},"value":[1,"abc"]}]"#), Malformed(r#""abc" is not a number"#)),
            (200, ok("vector", r#"[{"metric":{},"value":[1]}]"#), Malformed("not [time, \"value\"]")),
            (
                400,
                r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"}"#.into(),
                Unavailable("refused the query: bad_data: invalid parameter \"query\": 1:6: parse error"),
            ),
            (
                422,
                r#"{"status":"error","errorType":"execution","error":"query processing would load too many samples"}"#.into(),
                Unavailable("execution: query processing would load too many samples"),
            ),
            (
                503,
                r#"{"status":"error","errorType":"timeout","error":"query timed out"}"#.into(),
                Unavailable("timeout: query timed out"),
            ),
            (502, "<html><body>Bad   Gateway</body></html>".into(), Unavailable("HTTP 502: <html><body>Bad Gateway</body></html>")),
            (200, "<html>login</html>".into(), Malformed("not Prometheus' JSON")),
            (200, r#"{"status":"success"}"#.into(), Malformed("no data")),
        ];
        for (status, body, want) in cases {
            let got = read_answer(status, &body);
            let ok = match (&got, &want) {
                (Ok(Some(v)), Value(w)) => v == w,
                (Ok(None), NoData) => true,
                (Err(MetricsError::Unavailable(m)), Unavailable(w)) => m.contains(w),
                (Err(MetricsError::Malformed(m)), Malformed(w)) => m.contains(w),
                _ => false,
            };
            assert!(ok, "{status} {body}: got {got:?}, want {want:?}");
        }
    }
}
