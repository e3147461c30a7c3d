//! Summary statistics of the page: mean ± sample standard deviation over seeds, and
//! Spearman's rank correlation.

/// Mean and sample standard deviation (`n − 1`; 0 for one value) of `values`; `None` when
/// there are none.
pub fn mean_std(values: &[f64]) -> Option<(f64, f64)> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let std = if n > 1 {
        (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    Some((mean, std))
}

/// Ranks from 1, ties sharing their mean rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            ranks[k] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation of paired samples (the Pearson correlation of their ranks);
/// `None` for fewer than 3 pairs or a constant sample.
pub fn spearman(x: &[f64], y: &[f64]) -> Option<f64> {
    if x.len() != y.len() || x.len() < 3 {
        return None;
    }
    let (rx, ry) = (ranks(x), ranks(y));
    let (mx, my) = (mean_std(&rx)?.0, mean_std(&ry)?.0);
    let cov: f64 = rx.iter().zip(&ry).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = rx.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = ry.iter().map(|b| (b - my).powi(2)).sum();
    (vx > 0.0 && vy > 0.0).then(|| cov / (vx * vy).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_deviation() {
        assert_eq!(mean_std(&[]), None);
        assert_eq!(mean_std(&[0.7]), Some((0.7, 0.0)));
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, sample variance 32/7.
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]).unwrap();
        assert_eq!(m, 5.0);
        assert!((s - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn ties_share_their_rank() {
        assert_eq!(ranks(&[10.0, 20.0, 20.0, 5.0]), vec![2.0, 3.5, 3.5, 1.0]);
    }

    #[test]
    fn spearman_of_known_samples() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        // Monotone: ±1 whatever the spacing.
        assert!((spearman(&x, &[1.0, 8.0, 27.0, 64.0, 125.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&x, &[9.0, 7.0, 3.0, 2.0, 0.5]).unwrap() + 1.0).abs() < 1e-12);
        // d = (0, -1, 1, 0, 0): 1 - 6·2 / (5·24) = 0.9.
        assert!((spearman(&x, &[1.0, 3.0, 2.0, 4.0, 5.0]).unwrap() - 0.9).abs() < 1e-12);
        assert_eq!(spearman(&x[..2], &[1.0, 2.0]), None);
        assert_eq!(spearman(&x, &[1.0; 5]), None);
    }
}
