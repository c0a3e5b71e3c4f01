//! `snowbridge._native`: the Rust half of the `snowbridge` Python package. Thin: it turns
//! Python arguments into the adapter's ([`library`]) and its results and errors back into
//! Python objects. The Python half (`snowbridge/`) holds the public classes, the `requests`
//! adapter and `pysnc()`; `_native.pyi` documents what this module offers them.
//!
//! Every wait on the network or the browser runs on one tokio runtime with the GIL released,
//! looking up every [`SIGNAL_CHECK`] for a pending signal (Ctrl-C raises `KeyboardInterrupt`
//! and stops the work: a browser it started closes). No Rust panic crosses into Python: PyO3
//! turns one into `PanicException`, and nothing here unwraps what came from outside.

mod library;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use tokio::sync::mpsc;

use library::{BrowserChoice, Handle, LibraryError, LoginRequest};

/// How often a wait looks up pending Python signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// The runtime every call runs on: two workers, started on first use.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> =
        OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("snowbridge")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| PyRuntimeError::new_err(format!("snowbridge cannot start its runtime: {e}")))
}

/// Runs `work` on the runtime and waits for it with the GIL released, checking for signals
/// between waits; a signal aborts the work (dropping it unwinds: browsers close, sessions save)
/// and raises the signal's exception. The library's errors become `snowbridge.Error`s.
fn wait<T, F>(py: Python<'_>, instance: Option<&str>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: Future<Output = library::Result<T>> + Send + 'static,
{
    let rt = runtime()?;
    let mut task = rt.spawn(work);
    loop {
        let done = py
            .detach(|| rt.block_on(async { tokio::time::timeout(SIGNAL_CHECK, &mut task).await }));
        match done {
            Ok(Ok(Ok(value))) => return Ok(value),
            Ok(Ok(Err(e))) => return Err(to_py(py, &e, instance)),
            Ok(Err(joined)) => {
                return Err(PyRuntimeError::new_err(format!(
                    "snowbridge's work failed unexpectedly: {joined}"
                )));
            }
            Err(_) => {
                if let Err(signal) = py.check_signals() {
                    task.abort();
                    // Wait for the abort to unwind the work, so nothing it started outlives it.
                    let _ = py.detach(|| rt.block_on(&mut task));
                    return Err(signal);
                }
            }
        }
    }
}

/// A library error as the `snowbridge` exception of its kind (`snowbridge._errors`).
fn to_py(py: Python<'_>, e: &LibraryError, instance: Option<&str>) -> PyErr {
    let facts = library::error_facts(e, instance);
    let built = (|| -> PyResult<PyErr> {
        let errors = py.import("snowbridge._errors")?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("kind", facts.kind)?;
        kwargs.set_item("hint", facts.hint)?;
        kwargs.set_item("exit_code", facts.exit_code)?;
        kwargs.set_item("instance", instance)?;
        kwargs.set_item("command", facts.command)?;
        kwargs.set_item("refusal", facts.refusal)?;
        kwargs.set_item("reason", facts.refusal_kind)?;
        kwargs.set_item("fields", facts.fields)?;
        let exception = errors
            .getattr("from_native")?
            .call((facts.message.clone(),), Some(&kwargs))?;
        Ok(PyErr::from_value(exception))
    })();
    built.unwrap_or_else(|why| {
        PyRuntimeError::new_err(format!(
            "{} (and snowbridge could not raise its own exception: {why})",
            facts.message
        ))
    })
}

/// The person at a login: Python callables, or lines on `sys.stderr` when none is given.
struct PythonAsker {
    tell: Option<Py<PyAny>>,
    one_time_code: Option<Py<PyAny>>,
}

impl library::Asker for PythonAsker {
    fn tell(&self, line: &str) {
        Python::attach(|py| {
            let told = match &self.tell {
                Some(tell) => tell.call1(py, (line,)).map(drop),
                None => py.import("sys").and_then(|sys| {
                    let stderr = sys.getattr("stderr")?;
                    stderr.call_method1("write", (format!("{line}\n"),))?;
                    stderr.call_method0("flush").map(drop)
                }),
            };
            if let Err(e) = told {
                e.print(py);
            }
        });
    }

    fn one_time_code(&self, user: &str, instance: &str) -> Option<String> {
        let ask = self.one_time_code.as_ref()?;
        Python::attach(|py| match ask.call1(py, (user, instance)) {
            Ok(code) => code.extract::<Option<String>>(py).ok().flatten(),
            Err(e) => {
                e.print(py);
                None
            }
        })
    }
}

fn browser_choice(
    headless: Option<bool>,
    chrome: Option<PathBuf>,
    chromedriver: Option<PathBuf>,
) -> BrowserChoice {
    BrowserChoice {
        headless,
        chrome,
        chromedriver,
    }
}

/// `snowbridge.connect(name, ...)`: see `_native.pyi`.
#[pyfunction]
#[pyo3(signature = (name, headless, chrome, chromedriver))]
fn connect(
    py: Python<'_>,
    name: String,
    headless: Option<bool>,
    chrome: Option<PathBuf>,
    chromedriver: Option<PathBuf>,
) -> PyResult<(Session, String)> {
    let instance = name.clone();
    let browser = browser_choice(headless, chrome, chromedriver);
    let (handle, how) = wait(py, Some(&instance), async move {
        library::connect(&name, &browser).await
    })?;
    Ok((Session::new(handle), how))
}

/// `snowbridge.login(name, ...)`: see `_native.pyi`.
#[pyfunction]
#[pyo3(signature = (name, headless, user, mfa_code, timeout, remember_me, chrome, chromedriver, on_message, one_time_code))]
#[allow(clippy::too_many_arguments)]
fn login(
    py: Python<'_>,
    name: String,
    headless: Option<bool>,
    user: Option<String>,
    mfa_code: Option<String>,
    timeout: f64,
    remember_me: bool,
    chrome: Option<PathBuf>,
    chromedriver: Option<PathBuf>,
    on_message: Option<Py<PyAny>>,
    one_time_code: Option<Py<PyAny>>,
) -> PyResult<Session> {
    let timeout = Duration::try_from_secs_f64(timeout)
        .ok()
        .filter(|t| !t.is_zero())
        .ok_or_else(|| {
            to_py(
                py,
                &library::usage(format!(
                    "timeout={timeout} is not a number of seconds above 0"
                )),
                Some(&name),
            )
        })?;
    let request = LoginRequest {
        browser: browser_choice(headless, chrome, chromedriver),
        user,
        mfa_code,
        timeout,
        remember_me,
        asker: Box::new(PythonAsker {
            tell: on_message,
            one_time_code,
        }),
    };
    let instance = name.clone();
    let handle = wait(py, Some(&instance), async move {
        library::login(&name, request).await
    })?;
    Ok(Session::new(handle))
}

/// A session of one instance: see `_native.pyi`.
#[pyclass(frozen, module = "snowbridge._native")]
struct Session {
    handle: Arc<Handle>,
    instance: String,
}

impl Session {
    fn new(handle: Handle) -> Session {
        let instance = handle.connection.instance().name.clone();
        Session {
            handle: Arc::new(handle),
            instance,
        }
    }

    fn error(&self, py: Python<'_>, e: &LibraryError) -> PyErr {
        to_py(py, e, Some(&self.instance))
    }
}

fn unix_seconds(at: time::OffsetDateTime) -> f64 {
    at.unix_timestamp_nanos() as f64 / 1e9
}

#[pymethods]
impl Session {
    /// The session's facts as a dict: instance, url, method, user, obtained, expires_at.
    fn facts<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let facts = library::facts(&self.handle);
        let dict = PyDict::new(py);
        dict.set_item("instance", facts.instance)?;
        dict.set_item("url", facts.url)?;
        dict.set_item("method", facts.method)?;
        dict.set_item("user", facts.user)?;
        dict.set_item("obtained", facts.obtained)?;
        dict.set_item("expires_at", facts.expires_at.map(unix_seconds))?;
        Ok(dict)
    }

    /// One API call answering JSON; the parsed reply, or None for an empty one.
    #[pyo3(signature = (method, target, json))]
    fn api<'py>(
        &self,
        py: Python<'py>,
        method: String,
        target: String,
        json: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let body: Option<serde_json::Value> = match json {
            Some(value) => Some(pythonize::depythonize(&value).map_err(|e| {
                self.error(
                    py,
                    &library::usage(format!("json= cannot be sent as JSON: {e}")),
                )
            })?),
            None => None,
        };
        let session = self.handle.connection.clone();
        let reply = wait(py, Some(&self.instance), async move {
            library::api(session, &method, &target, body).await
        })?;
        match reply {
            Some(value) => pythonize::pythonize(py, &value).map_err(|e| {
                self.error(
                    py,
                    &library::internal(format!("the reply cannot be made Python: {e}")),
                )
            }),
            None => Ok(py.None().into_bound(py)),
        }
    }

    /// One request through the session, any status back: (status, reason, url, headers, body).
    #[pyo3(signature = (method, url, headers, body))]
    #[allow(clippy::type_complexity)]
    fn send<'py>(
        &self,
        py: Python<'py>,
        method: String,
        url: String,
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> PyResult<(
        u16,
        String,
        String,
        Vec<(String, Bound<'py, PyBytes>)>,
        Bound<'py, PyBytes>,
    )> {
        let session = self.handle.connection.clone();
        let request = library::Request {
            method,
            url,
            headers,
            body,
        };
        let reply = wait(py, Some(&self.instance), async move {
            library::send(session, request).await
        })?;
        let headers = reply
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), PyBytes::new(py, value)))
            .collect();
        Ok((
            reply.status,
            reply.reason,
            reply.url,
            headers,
            PyBytes::new(py, &reply.body),
        ))
    }

    /// A table's records, streamed.
    #[pyo3(signature = (table, query, fields, limit, display_value, page_size))]
    #[allow(clippy::too_many_arguments)]
    fn records(
        &self,
        py: Python<'_>,
        table: String,
        query: String,
        fields: Vec<String>,
        limit: Option<u64>,
        display_value: String,
        page_size: usize,
    ) -> PyResult<Records> {
        let rx = library::records(
            runtime()?,
            self.handle.connection.clone(),
            library::RecordsQuery {
                table,
                query,
                fields,
                limit,
                display_value,
                page_size,
            },
        )
        .map_err(|e| self.error(py, &e))?;
        Ok(Records {
            rx: Mutex::new(Some(rx)),
            ready: Mutex::new(std::collections::VecDeque::new()),
            instance: self.instance.clone(),
        })
    }

    /// Attaches files; a dict of what was done.
    fn attach<'py>(
        &self,
        py: Python<'py>,
        table: String,
        record: String,
        files: Vec<PathBuf>,
    ) -> PyResult<Bound<'py, PyDict>> {
        if files.is_empty() {
            return Err(self.error(
                py,
                &library::usage("attach needs at least one file: files=[\"error.log\"]"),
            ));
        }
        let connection = self.handle.connection.clone();
        let done = wait(py, Some(&self.instance), async move {
            library::attach(connection, &table, &record, files).await
        })?;
        let dict = PyDict::new(py);
        dict.set_item("sys_id", done.sys_id)?;
        dict.set_item("path", done.path)?;
        dict.set_item("reason", done.reason)?;
        let attachments = PyList::empty(py);
        for a in done.attachments {
            let item = PyDict::new(py);
            item.set_item("file", a.file)?;
            item.set_item("sys_id", a.sys_id)?;
            item.set_item("file_name", a.file_name)?;
            attachments.append(item)?;
        }
        dict.set_item("attachments", attachments)?;
        Ok(dict)
    }

    /// Resolves (or closes) an incident; a dict of what was done.
    fn resolve<'py>(
        &self,
        py: Python<'py>,
        record: String,
        code: String,
        notes: String,
        close: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let connection = self.handle.connection.clone();
        let done = wait(py, Some(&self.instance), async move {
            library::resolve(connection, &record, code, notes, close).await
        })?;
        let dict = PyDict::new(py);
        dict.set_item("number", done.number)?;
        dict.set_item("sys_id", done.sys_id)?;
        dict.set_item("state", done.state)?;
        dict.set_item("path", done.path)?;
        dict.set_item("reason", done.reason)?;
        dict.set_item("remarks", done.remarks)?;
        Ok(dict)
    }

    /// Writes what the session learned to the vault now.
    fn save(&self, py: Python<'_>) -> PyResult<()> {
        let connection = self.handle.connection.clone();
        wait(py, Some(&self.instance), library::save(connection))
    }
}

/// Records read ahead of the caller by at most this many per wait, so one wait serves many.
const BATCH: usize = 256;

/// A stream of records: see `_native.pyi`.
#[pyclass(module = "snowbridge._native")]
struct Records {
    rx: Mutex<Option<mpsc::Receiver<library::Result<library::Record>>>>,
    /// Records taken off the channel, not yet handed out (at most [`BATCH`]).
    ready: Mutex<std::collections::VecDeque<library::Result<library::Record>>>,
    instance: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[pymethods]
impl Records {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let rt = runtime()?;
        loop {
            let next = lock(&self.ready).pop_front();
            if let Some(item) = next {
                return match item {
                    Ok(record) => pythonize::pythonize(py, &record.0).map(Some).map_err(|e| {
                        to_py(
                            py,
                            &library::internal(format!("a record cannot be made Python: {e}")),
                            Some(&self.instance),
                        )
                    }),
                    Err(e) => {
                        self.close();
                        Err(to_py(py, &e, Some(&self.instance)))
                    }
                };
            }
            // Nothing read ahead: wait for the task, GIL released, a signal check at a time.
            let received = py.detach(|| {
                let mut rx = lock(&self.rx);
                let Some(rx) = rx.as_mut() else {
                    return Some(Vec::new());
                };
                match rt.block_on(async { tokio::time::timeout(SIGNAL_CHECK, rx.recv()).await }) {
                    Err(_) => None,
                    Ok(None) => Some(Vec::new()),
                    Ok(Some(first)) => {
                        let mut batch = vec![first];
                        while batch.len() < BATCH {
                            match rx.try_recv() {
                                Ok(item) => batch.push(item),
                                Err(_) => break,
                            }
                        }
                        Some(batch)
                    }
                }
            });
            match received {
                None => py.check_signals()?,
                Some(batch) if batch.is_empty() => {
                    self.close();
                    return Ok(None);
                }
                Some(batch) => lock(&self.ready).extend(batch),
            }
        }
    }

    /// Stops the stream: the task reading pages ends, and the session saves.
    fn close(&self) {
        lock(&self.rx).take();
        lock(&self.ready).clear();
    }
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(connect, m)?)?;
    m.add_function(wrap_pyfunction!(login, m)?)?;
    m.add_class::<Session>()?;
    m.add_class::<Records>()?;
    Ok(())
}
