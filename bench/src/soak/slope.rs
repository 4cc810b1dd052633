//! The RSS slope: growth over time told apart from the cost of the live sessions.

/// Least squares of `y = a + b·t + c·live` over `(t, live, y)`: `(b, c)`, y per second and
/// per live session. The live count swings by tens of sessions between samples, each worth
/// hundreds of KiB, so the raw slope mixes the load's swings into the growth. `(0, 0)` when
/// the two regressors cannot be told apart.
pub(crate) fn slope_at_constant_load(points: &[(f64, f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    if points.len() < 3 {
        return (0.0, 0.0);
    }
    let mean = |f: fn(&(f64, f64, f64)) -> f64| points.iter().map(f).sum::<f64>() / n;
    let (mt, ml, my) = (mean(|p| p.0), mean(|p| p.1), mean(|p| p.2));
    let sum = |f: &dyn Fn(&(f64, f64, f64)) -> f64| points.iter().map(f).sum::<f64>();
    let stt = sum(&|p| (p.0 - mt).powi(2));
    let sll = sum(&|p| (p.1 - ml).powi(2));
    let stl = sum(&|p| (p.0 - mt) * (p.1 - ml));
    let sty = sum(&|p| (p.0 - mt) * (p.2 - my));
    let sly = sum(&|p| (p.1 - ml) * (p.2 - my));
    let det = stt * sll - stl * stl;
    if det.abs() < f64::EPSILON {
        return (0.0, 0.0);
    }
    ((sty * sll - sly * stl) / det, (sly * stt - sty * stl) / det)
}

/// Least-squares slope of `(t, y)`, y per second; 0 with fewer than two points.
pub(crate) fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mt = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let cov: f64 = points.iter().map(|p| (p.0 - mt) * (p.1 - my)).sum();
    let var: f64 = points.iter().map(|p| (p.0 - mt).powi(2)).sum();
    if var == 0.0 {
        0.0
    } else {
        cov / var
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Growth over time and cost per live session are told apart even when the live count
    /// swings from sample to sample.
    #[test]
    fn the_slope_at_constant_load_separates_time_from_load() {
        let points: Vec<(f64, f64, f64)> = (0..60)
            .map(|i| {
                let t = f64::from(i) * 10.0;
                let live = 300.0 + f64::from((i * 37) % 61) - 30.0;
                (t, live, 5_000.0 + 0.25 * t + 330.0 * live)
            })
            .collect();
        let (per_s, per_session) = slope_at_constant_load(&points);
        assert!((per_s - 0.25).abs() < 1e-6, "{per_s}");
        assert!((per_session - 330.0).abs() < 1e-6, "{per_session}");
        // Raw slope on the same data is thrown off by the load's swings.
        let raw: Vec<(f64, f64)> = points.iter().map(|p| (p.0, p.2)).collect();
        assert!((slope(&raw) - 0.25).abs() > 1e-3);
    }
}
