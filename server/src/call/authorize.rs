//! The person's part of a sign-in: the authorization URL printed (and opened in a browser),
//! the browser's return caught by the loopback listener.

use super::redirect::RedirectListener;

/// Binds the listener on `port`, shows `url`, and waits for the browser to come back: the URL
/// it was sent to, or why not. Dropping the future closes the listener.
pub async fn authorize(url: String, port: u16, browser: bool) -> Result<String, String> {
    let listener = RedirectListener::bind(port).map_err(|e| {
        format!(
            "cannot listen for the authorization's redirect on 127.0.0.1:{port}: {e} \
             (--redirect-port chooses the port)"
        )
    })?;
    let state = mcpwire_core::client::auth::query_pairs(url.split_once('?').map_or("", |q| q.1))
        .into_iter()
        .find(|(name, _)| name == "state")
        .map(|(_, value)| value);
    eprintln!("Open this URL to authorize: {url}");
    let opened = async move {
        if browser {
            open(&url).await;
        }
        std::future::pending::<Result<String, String>>().await
    };
    smol::future::or(listener.expect_state(state).wait(), opened).await
}

/// Asks the desktop to open `url`. Failing is not an error: the URL is printed. The opener is
/// waited for here; if the sign-in ends first, smol's process reaper collects it (it is not
/// killed: `xdg-open` may have become the browser itself).
async fn open(url: &str) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    let spawned = smol::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let opened = match spawned {
        Ok(mut child) => child.status().await.is_ok_and(|s| s.success()),
        Err(_) => false,
    };
    if !opened {
        eprintln!("(no browser could be opened: open the URL yourself)");
    }
}
