//! Independent jobs spread over the available cores.

use std::sync::{Mutex, PoisonError};

/// Number of worker threads: the available parallelism (at least 1).
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1)
}

/// Run `f` over the jobs on all cores; results come back in job order, whichever thread ran
/// each job, so they never depend on timing.
///
/// Threads take the next job as they finish one, so uneven jobs (parameters of very
/// different sizes) balance out: give the largest first. One of the workers is the calling
/// thread.
pub(crate) fn par_map<J: Send, T: Send>(jobs: Vec<J>, f: impl Fn(J) -> T + Sync) -> Vec<T> {
    let n = jobs.len();
    let n_threads = threads().min(n);
    if n_threads <= 1 {
        return jobs.into_iter().map(f).collect();
    }
    let queue = Mutex::new(jobs.into_iter().enumerate());
    let work = || {
        let mut done = Vec::new();
        loop {
            let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
            let Some((i, job)) = next else {
                return done;
            };
            done.push((i, f(job)));
        }
    };
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..n_threads).map(|_| scope.spawn(work)).collect();
        let mine = work();
        let theirs = helpers
            .into_iter()
            .flat_map(|h| h.join().expect("a worker thread panicked"));
        for (i, r) in mine.into_iter().chain(theirs) {
            slots[i] = Some(r);
        }
    });
    slots
        .into_iter()
        .map(|s| s.expect("every job produces a result"))
        .collect()
}

/// The indices of `sizes`, largest first (ties in index order): the order in which to hand
/// uneven jobs to [`par_map`].
pub(crate) fn largest_first(sizes: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]).then(a.cmp(&b)));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_in_job_order() {
        let jobs: Vec<usize> = (0..100).collect();
        let out = par_map(jobs, |j| j * j);
        assert_eq!(out, (0..100).map(|j| j * j).collect::<Vec<_>>());
        assert!(par_map(Vec::<u8>::new(), |j| j).is_empty());
    }

    #[test]
    fn largest_first_breaks_ties_by_index() {
        assert_eq!(largest_first(&[3, 9, 3, 1, 9]), vec![1, 4, 0, 2, 3]);
    }
}
