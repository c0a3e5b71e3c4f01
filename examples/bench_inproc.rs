//! In-process timings for `scripts/bench.sh`: the library's own calls, timed inside one warm
//! process, beside the Python clients' calls timed in a warm interpreter. Not a test; prints one
//! JSON object of per-call times in milliseconds.
//!
//! ```text
//! bench_inproc api INSTANCE PATH RUNS          a warm Table API call on the stored session
//! bench_inproc import USER_DATA_DIR URL RUNS   a Chrome cookie import from a Chromium profile
//! ```
//! Each runs once untimed first (connection, page cache), then RUNS times.

use std::sync::Arc;
use std::time::Instant;

use snowbridge::instance::Catalog;
use snowbridge::obtain::chrome::{self, Browser, Source};
use snowbridge::paths::Dirs;
use snowbridge::session::{Call, Session};
use snowbridge::vault::Vault;

fn usage() -> ! {
    eprintln!(
        "usage: bench_inproc api INSTANCE PATH RUNS | bench_inproc import USER_DATA_DIR URL RUNS"
    );
    std::process::exit(2)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [what, a, b, runs] = args.as_slice() else {
        usage()
    };
    let runs: usize = runs.parse().unwrap_or_else(|_| usage());
    let mut times = Vec::with_capacity(runs);
    let mut items = 0usize;
    match what.as_str() {
        "api" => {
            let dirs = Dirs::from_env()?;
            let instance = Catalog::load(&dirs)?.get(a)?;
            let session = Session::open(&instance, Arc::new(Vault::new(&dirs)))?;
            for i in 0..=runs {
                let started = Instant::now();
                let body = session.send(&Call::get(b.as_str())).await?.bytes().await?;
                if i > 0 {
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                items = body.len();
            }
            session.save()?;
        }
        "import" => {
            let source = Source {
                user_data_dir: Some(a.into()),
                ..Source::new(Browser::Chromium)
            };
            let url = url::Url::parse(b)?;
            for i in 0..=runs {
                let started = Instant::now();
                let import = chrome::import(&source, &url, false).await?;
                if i > 0 {
                    times.push(started.elapsed().as_secs_f64() * 1000.0);
                }
                items = import.cookies.len();
            }
        }
        _ => usage(),
    }
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    println!(
        "{{\"median_ms\":{median:.3},\"min_ms\":{:.3},\"runs\":{runs},\"items\":{items}}}",
        times.first().copied().unwrap_or(f64::NAN)
    );
    Ok(())
}
