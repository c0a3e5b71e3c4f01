//! Waiting that may take a while (the OS keyring's time-boxed calls, another process's vault
//! lock, a browser ended on drop) kept off the threads that run a caller's async tasks.
//!
//! The library's own async paths that reach such a wait go through here: on a multi-threaded
//! tokio runtime [`tokio::task::block_in_place`] hands the worker's other tasks to another
//! thread while this one waits. A current-thread runtime has no other worker: there the wait
//! happens in place (the front door runs its own blocking work on `spawn_blocking` threads).

/// Runs `work`, which may block, without holding up the other tasks of the runtime it is
/// called from.
pub(crate) fn wait<T>(work: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        // Not on a worker (a blocking-pool thread, a plain thread): block_in_place just runs it.
        Ok(runtime) if runtime.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_wait_on_the_only_worker_lets_other_tasks_run() {
        let waiter = tokio::spawn(async {
            let (tx, rx) = std::sync::mpsc::channel();
            // Queued on this (the only) worker: it runs only if the wait hands the worker over.
            let other = tokio::spawn(async move {
                let _ = tx.send(());
            });
            let answered = wait(|| rx.recv_timeout(std::time::Duration::from_secs(10)).is_ok());
            (answered, other)
        });
        let (answered, other) = waiter.await.unwrap();
        assert!(answered, "the other task ran while this one waited");
        other.await.unwrap();
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_waits_in_place() {
        assert_eq!(wait(|| 7), 7);
    }

    #[test]
    fn outside_a_runtime_it_just_runs() {
        assert_eq!(wait(|| "done"), "done");
    }
}
