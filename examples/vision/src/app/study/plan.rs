//! The study as a list of tasks run in order, with an estimate of the time left.

use super::super::error::Result;
use std::time::Instant;

/// One step of the study: a run (or a few runs) to make, finished ones skipped.
pub struct Task<'a> {
    /// What it does, for the log.
    pub label: String,
    /// Its rough cost in epochs of the dense network over the training subset.
    pub units: f64,
    /// The work.
    pub action: Box<dyn FnOnce() -> Result<()> + 'a>,
}

impl<'a> Task<'a> {
    /// A task of `units` dense epochs.
    pub fn new(
        label: impl Into<String>,
        units: f64,
        action: impl FnOnce() -> Result<()> + 'a,
    ) -> Self {
        Self {
            label: label.into(),
            units,
            action: Box::new(action),
        }
    }
}

/// Runs tasks in order and prints, after each one, how far the study is and when it should
/// end. Each task's time is modelled as a fixed cost (loading, pruning, evaluating, saving)
/// plus a cost per unit of training, both fitted by least squares to the tasks trained in
/// this invocation (tasks finished in an earlier invocation take no time and are left out).
pub struct Clock {
    started: Instant,
    planned: f64,
    planned_tasks: usize,
    done: f64,
    done_tasks: usize,
    /// `(units, seconds)` of every task trained in this invocation.
    trained: Vec<(f64, f64)>,
}

/// A task shorter than this was found finished on disk: it does not count in the rate.
const RESUMED_SECONDS: f64 = 1.5;

impl Clock {
    /// A clock for `tasks` tasks worth `planned` units in all.
    pub fn new(planned: f64, tasks: usize) -> Self {
        Self {
            started: Instant::now(),
            planned,
            planned_tasks: tasks,
            done: 0.0,
            done_tasks: 0,
            trained: Vec::new(),
        }
    }

    /// Run every task, in order, calling `after` with the seconds since the clock started
    /// once each is done (to save progress); stop at the first error.
    pub fn run_all(
        &mut self,
        tasks: Vec<Task<'_>>,
        mut after: impl FnMut(f64) -> Result<()>,
    ) -> Result<()> {
        let n = tasks.len();
        for (i, task) in tasks.into_iter().enumerate() {
            println!("[study] task {}/{n}: {}", i + 1, task.label);
            let started = Instant::now();
            (task.action)()?;
            self.record(task.units, started.elapsed().as_secs_f64());
            println!("[study] {}", self.status());
            after(self.started.elapsed().as_secs_f64())?;
        }
        Ok(())
    }

    /// Count a task of `units` that took `seconds`.
    pub fn record(&mut self, units: f64, seconds: f64) {
        self.done += units;
        self.done_tasks += 1;
        if seconds > RESUMED_SECONDS {
            self.trained.push((units, seconds));
        }
    }

    /// `(seconds per task, seconds per unit)`: the least-squares line through the trained
    /// tasks, both terms at least 0 (the plain rate, without a fixed cost, when the line
    /// would need a negative one; the mean time per task when it would need a negative
    /// rate); the plain rate while the tasks' units do not vary.
    pub fn cost_model(&self) -> Option<(f64, f64)> {
        let n = self.trained.len() as f64;
        if n == 0.0 {
            return None;
        }
        let (su, ss) = self
            .trained
            .iter()
            .fold((0.0, 0.0), |(a, b), (u, s)| (a + u, b + s));
        let (mu, ms) = (su / n, ss / n);
        let plain = if su > 0.0 { (0.0, ss / su) } else { (ms, 0.0) };
        let var: f64 = self.trained.iter().map(|(u, _)| (u - mu).powi(2)).sum();
        if var <= 1e-12 * (1.0 + mu * mu) {
            return Some(plain);
        }
        let cov: f64 = self.trained.iter().map(|(u, s)| (u - mu) * (s - ms)).sum();
        let slope = cov / var;
        let fixed = ms - slope * mu;
        Some(if fixed < 0.0 {
            plain
        } else if slope < 0.0 {
            (ms, 0.0)
        } else {
            (fixed, slope)
        })
    }

    /// The seconds left, once some task has trained in this invocation.
    pub fn eta_seconds(&self) -> Option<f64> {
        let (per_task, per_unit) = self.cost_model()?;
        let tasks = self.planned_tasks.saturating_sub(self.done_tasks) as f64;
        Some(tasks * per_task + (self.planned - self.done).max(0.0) * per_unit)
    }

    /// `42% of the study done, 12m elapsed, about 16m left`.
    pub fn status(&self) -> String {
        let pct = 100.0 * self.done / self.planned.max(f64::MIN_POSITIVE);
        let elapsed = duration(self.started.elapsed().as_secs_f64());
        match self.eta_seconds() {
            Some(eta) => format!(
                "{pct:.0}% of the study done, {elapsed} elapsed, about {} left",
                duration(eta)
            ),
            None => format!("{pct:.0}% of the study done, {elapsed} elapsed"),
        }
    }
}

/// `3h 05m`, `12m 30s`, `45s`.
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(duration(45.2), "45s");
        assert_eq!(duration(750.0), "12m 30s");
        assert_eq!(duration(3.0 * 3600.0 + 5.0 * 60.0 + 10.0), "3h 05m");
    }

    #[test]
    fn the_rate_ignores_resumed_tasks() {
        let mut clock = Clock::new(10.0, 3);
        assert_eq!(clock.eta_seconds(), None);
        clock.record(4.0, 0.2); // found finished on disk
        assert_eq!(clock.eta_seconds(), None);
        clock.record(2.0, 10.0); // trained: 5 s per unit
        assert_eq!(clock.eta_seconds(), Some(20.0)); // 4 units left
        assert!(clock.status().starts_with("60% of the study done"));
        assert!(clock.status().ends_with("about 20s left"));
    }

    #[test]
    fn fixed_costs_are_fitted_apart_from_training() {
        // Tasks costing 3 s each plus 2 s per unit: the line is recovered exactly.
        let mut clock = Clock::new(20.0, 6);
        for units in [1.0, 2.0, 4.0] {
            clock.record(units, 3.0 + 2.0 * units);
        }
        let (fixed, rate) = clock.cost_model().unwrap();
        assert!((fixed - 3.0).abs() < 1e-9 && (rate - 2.0).abs() < 1e-9);
        // 3 tasks and 13 units left: 3·3 + 13·2 = 35 s.
        assert!((clock.eta_seconds().unwrap() - 35.0).abs() < 1e-9);
        // Timings that would need a negative fixed cost fall back to the plain rate.
        let mut clock = Clock::new(10.0, 4);
        clock.record(1.0, 2.0);
        clock.record(3.0, 10.0);
        let (fixed, rate) = clock.cost_model().unwrap();
        assert_eq!(fixed, 0.0);
        assert!((rate - 3.0).abs() < 1e-9);
    }

    #[test]
    fn errors_stop_the_study() {
        let mut clock = Clock::new(2.0, 2);
        let ran = std::cell::Cell::new(false);
        let tasks = vec![
            Task::new("fails", 1.0, || {
                Err(crate::app::error::AppError::invalid("x", "broken"))
            }),
            Task::new("never", 1.0, || {
                ran.set(true);
                Ok(())
            }),
        ];
        assert!(clock.run_all(tasks, |_| Ok(())).is_err());
        assert!(!ran.get());
    }
}
