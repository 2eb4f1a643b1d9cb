//! Unit tests: the formulas on hand-computed inputs, numpy's quantiles bit
//! for bit (`formulas`), and whole reports on small CSV files with figures
//! worked out by hand (`reports`).

mod formulas;
mod reports;

const EPS: f64 = 1e-4;

fn ln(x: f64) -> f64 {
    x.ln()
}

fn close(got: f64, want: f64) -> bool {
    (got - want).abs() <= 1e-12 * want.abs().max(1.0)
}
