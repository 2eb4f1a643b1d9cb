//! The Kullback–Leibler divergence of two histograms.

use super::psi::smooth;

/// D(p ‖ q) = Σᵢ pᵢ · ln(pᵢ / qᵢ), in nats, both smoothed first like
/// [`psi`](super::psi) (a 0 becomes `epsilon`, no renormalisation). For
/// predictions the report passes the current window as `p` and the
/// reference as `q`: the divergence of the current from the reference.
///
/// Not symmetric: swapping `p` and `q` gives another figure.
///
/// # Panics
///
/// If the two slices differ in length: they must be the same bins.
pub fn kl_divergence(p: &[f64], q: &[f64], epsilon: f64) -> f64 {
    assert_eq!(
        p.len(),
        q.len(),
        "kl_divergence: both histograms must have the same bins"
    );
    p.iter()
        .zip(q)
        .map(|(&p, &q)| {
            let (p, q) = (smooth(p, epsilon), smooth(q, epsilon));
            p * (p / q).ln()
        })
        .sum()
}
