//! What a `host` field may hold: a DNS name or an IP literal — no scheme, user,
//! port, path, list or option that a driver might read as a second host.

use std::net::IpAddr;

pub fn check(host: &str) -> Result<(), &'static str> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if literal.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let name = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if name.len() <= 253 && name.split('.').all(label_ok) {
        Ok(())
    } else {
        Err("must be a host name or an IP address, without scheme, user, port, path or options")
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn names_and_literals_pass_and_tricks_do_not() {
        for ok in [
            "db.example.com",
            "localhost",
            "127.0.0.1",
            "::1",
            "[::1]",
            "my_host.internal",
            "a-b.c.",
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "user@169.254.169.254",
            "127.0.0.1:5432",
            "a.com,169.254.169.254",
            "a.com?host=169.254.169.254",
            "http://a.com",
            "a.com/x",
            "a b",
            "-a.com",
            "a..com",
            "host=evil",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }
}
