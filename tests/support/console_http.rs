//! The console over plain HTTP, as a script (or an attacker) would use it.

use super::mailplane;

pub fn console_link(port: u16, account: &str) -> String {
    let out = mailplane()
        .args(["console-link", "--sub", account])
        .env("MAILPLANE_LISTEN", format!("127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Plain HTTP without redirects, as an attacker's script would.
pub fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().redirects(0).build()
}

pub fn status(r: Result<ureq::Response, ureq::Error>) -> (u16, String, Option<String>) {
    match r {
        Ok(r) => {
            let cookie = r.header("set-cookie").map(str::to_owned);
            (r.status(), r.into_string().unwrap_or_default(), cookie)
        }
        Err(ureq::Error::Status(code, r)) => (code, r.into_string().unwrap_or_default(), None),
        Err(e) => panic!("transport error: {e}"),
    }
}

/// Signs in over plain HTTP; answers the session cookie and the page's CSRF token.
pub fn sign_in(port: u16, account: &str) -> (String, String) {
    let (code, _, cookie) = status(agent().get(&console_link(port, account)).call());
    assert_eq!(code, 303);
    let cookie = cookie.unwrap().split(';').next().unwrap().to_owned();
    let (code, page, _) = status(
        agent()
            .get(&format!("http://127.0.0.1:{port}/console"))
            .set("Cookie", &cookie)
            .call(),
    );
    assert_eq!(code, 200);
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    (cookie, csrf)
}
