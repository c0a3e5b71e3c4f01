//! Making sure chromedriver and its Chrome die with snowbridge.
//!
//! Owns every way the driver's process tree is ended: the kill on drop, the process-wide
//! registry that the Ctrl-C handler empties, and the backstops for when snowbridge itself is
//! killed outright. On Unix chromedriver leads its own process group (Chrome and its helpers
//! join it), `PR_SET_PDEATHSIG` ends chromedriver on Linux, and a watchdog `sh` holding a pipe
//! from us kills the group when the pipe closes. On Windows a job object that kills on close
//! does all of it. This module starts and kills processes; it knows nothing of WebDriver.

use std::io;
use std::process::{Child, Command};

use crate::error::{Error, ErrorKind, Result};

/// Spawns `command` so that its process tree can be ended by [`Guard`].
///
/// On Linux the child is spawned from one long-lived thread: `PR_SET_PDEATHSIG` fires when the
/// *thread* that forked the child ends, and runtime worker threads come and go.
pub(crate) fn spawn(mut command: Command) -> io::Result<Child> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        // No console window for chromedriver when snowbridge runs from a GUI.
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        command.creation_flags(CREATE_NO_WINDOW);
    }
    #[cfg(target_os = "linux")]
    {
        linux::spawn_with_parent_death_signal(command)
    }
    #[cfg(not(target_os = "linux"))]
    {
        command.spawn()
    }
}

/// Owns the ending of one spawned process tree: killed on [`Guard::kill`] or drop.
pub(crate) struct Guard {
    #[cfg(unix)]
    unix: unix::Group,
    #[cfg(windows)]
    job: windows::Job,
}

impl Guard {
    /// Takes charge of `child` (spawned by [`spawn`]) and everything it starts.
    pub(crate) fn new(child: &Child) -> Result<Guard> {
        #[cfg(unix)]
        {
            Ok(Guard {
                unix: unix::Group::new(child)?,
            })
        }
        #[cfg(windows)]
        {
            Ok(Guard {
                job: windows::Job::new(child)?,
            })
        }
        #[cfg(not(any(unix, windows)))]
        {
            let _ = child;
            Ok(Guard {})
        }
    }

    /// Kills the whole tree now. Idempotent.
    pub(crate) fn kill(&mut self) {
        #[cfg(unix)]
        self.unix.kill();
        #[cfg(windows)]
        self.job.kill();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Installs a SIGINT/SIGTERM/SIGHUP handler that kills every chromedriver (and its Chrome)
/// snowbridge started, then exits with 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).
///
/// For the CLI, once at start-up. A program with its own signal handling should call
/// [`kill_all`] from it instead. On Windows this does nothing: the job objects end the
/// processes when snowbridge exits, however it exits.
pub fn install_signal_cleanup() -> Result<()> {
    #[cfg(unix)]
    {
        unix::install_handler()
    }
    #[cfg(not(unix))]
    {
        Ok(())
    }
}

/// Kills every chromedriver and Chrome this process started and has not yet ended.
///
/// Async-signal-safe on Unix: it may be called from a signal handler.
pub fn kill_all() {
    #[cfg(unix)]
    unix::kill_registered();
}

fn failed(doing: &str, err: io::Error) -> Error {
    Error::new(ErrorKind::Browser, format!("{doing}: {err}")).with_source(err)
}

#[cfg(unix)]
mod unix {
    use std::process::{Child, ChildStdin, Command, Stdio};
    use std::sync::Once;
    use std::sync::atomic::{AtomicI32, Ordering};

    use super::failed;
    use crate::error::{Error, ErrorKind, Result};

    /// Process groups to kill on a signal; 0 marks a free slot. A fixed array of atomics so the
    /// signal handler can read it without locks or allocation.
    static GROUPS: [AtomicI32; 64] = [const { AtomicI32::new(0) }; 64];

    /// One chromedriver process group: registered, watched, killed once.
    pub(super) struct Group {
        pgid: i32,
        slot: Option<usize>,
        watchdog: Option<(Child, ChildStdin)>,
        killed: bool,
    }

    impl Group {
        pub(super) fn new(child: &Child) -> Result<Group> {
            let pgid = i32::try_from(child.id())
                .map_err(|_| Error::internal("chromedriver's process id does not fit a pid_t"))?;
            let slot = register(pgid);
            if slot.is_none() {
                tracing::warn!("more than 64 browsers at once: Ctrl-C will not end this one");
            }
            let mut group = Group {
                pgid,
                slot,
                watchdog: None,
                killed: false,
            };
            group.watchdog = Some(start_watchdog(pgid)?);
            Ok(group)
        }

        pub(super) fn kill(&mut self) {
            if self.killed {
                return;
            }
            self.killed = true;
            // SAFETY: kill(2) on a process group we created; no memory is involved.
            unsafe {
                libc::kill(-self.pgid, libc::SIGKILL);
            }
            if let Some(slot) = self.slot.take() {
                GROUPS[slot].store(0, Ordering::SeqCst);
            }
            if let Some((mut watchdog, stdin)) = self.watchdog.take() {
                drop(stdin);
                // The watchdog is in the group just killed: reaping it does not block for long.
                let _ = watchdog.wait();
            }
        }
    }

    impl Drop for Group {
        fn drop(&mut self) {
            self.kill();
        }
    }

    fn register(pgid: i32) -> Option<usize> {
        GROUPS.iter().position(|slot| {
            slot.compare_exchange(0, pgid, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        })
    }

    pub(super) fn kill_registered() {
        for slot in &GROUPS {
            let pgid = slot.load(Ordering::SeqCst);
            if pgid > 0 {
                // SAFETY: kill(2) is async-signal-safe and touches no memory.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
        }
    }

    /// A `sh` in the driver's group that waits for its stdin to close (snowbridge gone, however
    /// it went) and then kills the group. Chrome outlives a killed chromedriver otherwise.
    fn start_watchdog(pgid: i32) -> Result<(Child, ChildStdin)> {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            // `kill 0` signals the caller's own group: the driver's, which the watchdog joined.
            .arg("read _ ; kill -KILL 0")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(pgid)
            .spawn()
            .map_err(|e| failed("cannot start the browser watchdog (/bin/sh)", e))?;
        let stdin = child.stdin.take().ok_or_else(|| {
            Error::new(ErrorKind::Browser, "the browser watchdog has no stdin pipe")
        })?;
        Ok((child, stdin))
    }

    pub(super) fn install_handler() -> Result<()> {
        static INSTALL: Once = Once::new();
        let mut outcome = Ok(());
        INSTALL.call_once(|| {
            for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
                let on_signal = move || {
                    kill_registered();
                    // SAFETY: _exit is async-signal-safe; nothing after it runs.
                    unsafe { libc::_exit(128 + signal) }
                };
                // SAFETY: the action only calls async-signal-safe functions (kill, _exit) and
                // reads atomics; signal-hook-registry runs it from its own chained handler.
                if let Err(e) = unsafe { signal_hook_registry::register(signal, on_signal) } {
                    outcome = Err(failed("cannot install the Ctrl-C handler", e));
                }
            }
        });
        outcome
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::unix::process::CommandExt;
    use std::process::{Child, Command};
    use std::sync::mpsc;
    use std::sync::{Mutex, OnceLock};

    type Reply = mpsc::SyncSender<io::Result<Child>>;

    /// Spawns on the spawner thread, with `PR_SET_PDEATHSIG` = SIGKILL in the child.
    pub(super) fn spawn_with_parent_death_signal(mut command: Command) -> io::Result<Child> {
        let parent = std::process::id();
        // SAFETY: the closure runs between fork and exec and calls only async-signal-safe
        // functions (prctl, getppid); it allocates nothing.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // The parent may have died before prctl took effect.
                if libc::getppid() as u32 != parent {
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let (reply, answer) = mpsc::sync_channel(1);
        spawner()?
            .lock()
            .map_err(|_| io::Error::other("the process spawner thread panicked"))?
            .send((command, reply))
            .map_err(|_| io::Error::other("the process spawner thread is gone"))?;
        answer
            .recv()
            .map_err(|_| io::Error::other("the process spawner thread did not answer"))?
    }

    fn spawner() -> io::Result<&'static Mutex<mpsc::Sender<(Command, Reply)>>> {
        static SPAWNER: OnceLock<Mutex<mpsc::Sender<(Command, Reply)>>> = OnceLock::new();
        if let Some(sender) = SPAWNER.get() {
            return Ok(sender);
        }
        let (sender, requests) = mpsc::channel::<(Command, Reply)>();
        std::thread::Builder::new()
            .name("snowbridge-spawner".into())
            .spawn(move || {
                for (mut command, reply) in requests {
                    let _ = reply.send(command.spawn());
                }
            })?;
        // A racing caller may have won: its thread serves, ours ends with its channel.
        Ok(SPAWNER.get_or_init(|| Mutex::new(sender)))
    }
}

#[cfg(windows)]
mod windows {
    use std::os::windows::io::AsRawHandle;
    use std::process::Child;

    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::JobObjects::{
        AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION, JobObjectExtendedLimitInformation,
        SetInformationJobObject, TerminateJobObject,
    };

    use super::failed;
    use crate::error::Result;

    /// A job object holding chromedriver and, by inheritance, Chrome: closing it kills them.
    pub(super) struct Job(HANDLE);

    // SAFETY: a job handle may be used and closed from any thread.
    unsafe impl Send for Job {}
    // SAFETY: the handle is only read through &self.
    unsafe impl Sync for Job {}

    impl Job {
        pub(super) fn new(child: &Child) -> Result<Job> {
            // SAFETY: plain Win32 calls on handles we own; the info struct is fully initialised.
            unsafe {
                let job = CreateJobObjectW(std::ptr::null(), std::ptr::null());
                if job.is_null() {
                    return Err(failed(
                        "cannot create a job object",
                        std::io::Error::last_os_error(),
                    ));
                }
                let job = Job(job);
                let mut info: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = std::mem::zeroed();
                info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
                let set = SetInformationJobObject(
                    job.0,
                    JobObjectExtendedLimitInformation,
                    &info as *const _ as *const core::ffi::c_void,
                    std::mem::size_of::<JOBOBJECT_EXTENDED_LIMIT_INFORMATION>() as u32,
                );
                if set == 0 {
                    return Err(failed(
                        "cannot configure the job object",
                        std::io::Error::last_os_error(),
                    ));
                }
                if AssignProcessToJobObject(job.0, child.as_raw_handle() as HANDLE) == 0 {
                    return Err(failed(
                        "cannot put chromedriver in a job object",
                        std::io::Error::last_os_error(),
                    ));
                }
                Ok(job)
            }
        }

        pub(super) fn kill(&mut self) {
            if !self.0.is_null() {
                // SAFETY: the handle is ours and still open.
                unsafe {
                    TerminateJobObject(self.0, 1);
                    CloseHandle(self.0);
                }
                self.0 = std::ptr::null_mut();
            }
        }
    }

    impl Drop for Job {
        fn drop(&mut self) {
            self.kill();
        }
    }
}
