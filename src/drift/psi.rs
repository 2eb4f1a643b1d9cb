//! The population stability index, and the smoothing rule it shares with
//! the KL divergence.

/// A proportion as the formulas use it: exactly 0 becomes `epsilon`,
/// anything else is kept (no renormalisation).
pub(crate) fn smooth(proportion: f64, epsilon: f64) -> f64 {
    if proportion == 0.0 {
        epsilon
    } else {
        proportion
    }
}

/// PSI = Σᵢ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) over bins, `expected` (the reference)
/// and `actual` (the current window) as proportions of their rows, each
/// smoothed first (a 0 becomes `epsilon`, see the module doc).
///
/// Every term is ≥ 0 (both factors share a sign), so the result is ≥ 0, and
/// 0 when the two are equal. Bins where both are 0 add nothing.
///
/// # Panics
///
/// If the two slices differ in length: they must be the same bins.
pub fn psi(expected: &[f64], actual: &[f64], epsilon: f64) -> f64 {
    assert_eq!(
        expected.len(),
        actual.len(),
        "psi: the expected and actual histograms must have the same bins"
    );
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (smooth(e, epsilon), smooth(a, epsilon));
            (a - e) * (a / e).ln()
        })
        .sum()
}
