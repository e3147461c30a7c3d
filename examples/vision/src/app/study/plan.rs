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
/// end: the time per unit of the tasks that trained in this invocation times the units left
/// (tasks finished in an earlier invocation take no time and are not counted in the rate).
pub struct Clock {
    started: Instant,
    planned: f64,
    done: f64,
    trained_units: f64,
    trained_seconds: f64,
}

/// A task shorter than this was found finished on disk: it does not count in the rate.
const RESUMED_SECONDS: f64 = 1.5;

impl Clock {
    /// A clock for tasks worth `planned` units in all.
    pub fn new(planned: f64) -> Self {
        Self {
            started: Instant::now(),
            planned,
            done: 0.0,
            trained_units: 0.0,
            trained_seconds: 0.0,
        }
    }

    /// Run every task, in order; stop at the first error.
    pub fn run_all(&mut self, tasks: Vec<Task<'_>>) -> Result<()> {
        let n = tasks.len();
        for (i, task) in tasks.into_iter().enumerate() {
            println!("[study] task {}/{n}: {}", i + 1, task.label);
            let started = Instant::now();
            (task.action)()?;
            self.record(task.units, started.elapsed().as_secs_f64());
            println!("[study] {}", self.status());
        }
        Ok(())
    }

    /// Count a task of `units` that took `seconds`.
    pub fn record(&mut self, units: f64, seconds: f64) {
        self.done += units;
        if seconds > RESUMED_SECONDS && units > 0.0 {
            self.trained_units += units;
            self.trained_seconds += seconds;
        }
    }

    /// The seconds left, once some task has trained in this invocation.
    pub fn eta_seconds(&self) -> Option<f64> {
        (self.trained_units > 0.0).then(|| {
            (self.planned - self.done).max(0.0) * self.trained_seconds / self.trained_units
        })
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
        let mut clock = Clock::new(10.0);
        assert_eq!(clock.eta_seconds(), None);
        clock.record(4.0, 0.2); // found finished on disk
        assert_eq!(clock.eta_seconds(), None);
        clock.record(2.0, 10.0); // trained: 5 s per unit
        assert_eq!(clock.eta_seconds(), Some(20.0)); // 4 units left
        assert!(clock.status().starts_with("60% of the study done"));
        assert!(clock.status().ends_with("about 20s left"));
    }

    #[test]
    fn errors_stop_the_study() {
        let mut clock = Clock::new(2.0);
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
        assert!(clock.run_all(tasks).is_err());
        assert!(!ran.get());
    }
}
