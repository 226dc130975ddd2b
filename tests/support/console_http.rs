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

/// Opens a sign-in link and confirms it as the page asks; answers the POST's status and
/// the session cookie it set.
pub fn confirm_link(port: u16, link: &str) -> (u16, Option<String>) {
    let (code, page, cookie) = status(agent().get(link).call());
    if code != 200 {
        return (code, None);
    }
    let field = |name: &str| {
        page.split(&format!("name=\"{name}\" value=\""))
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_owned()
    };
    let nonce_cookie = cookie.unwrap().split(';').next().unwrap().to_owned();
    let (code, _, session) = status(
        agent()
            .post(&format!("http://127.0.0.1:{port}/console/login"))
            .set("Cookie", &nonce_cookie)
            .send_form(&[("token", &field("token")), ("nonce", &field("nonce"))]),
    );
    (
        code,
        session.map(|c| c.split(';').next().unwrap().to_owned()),
    )
}

/// Signs in over plain HTTP; answers the session cookie and the page's CSRF token.
pub fn sign_in(port: u16, account: &str) -> (String, String) {
    let (code, cookie) = confirm_link(port, &console_link(port, account));
    assert_eq!(code, 303);
    let cookie = cookie.unwrap();
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
