//! Webhook deliveries: the URL rules of a webhook, and the task that sends what is
//! due (`deliver`).

pub mod deliver;

use url::Url;

use crate::config::Settings;
use crate::egress::Egress;

/// The longest webhook URL accepted.
pub const URL_MAX_CHARS: usize = 2048;

/// A webhook URL as the API accepts it: `https://`, or `http://` to a loopback host
/// when `webhook_allow_http_loopback` is set; no user information; a literal address
/// the egress policy allows. Names are checked again by the guard at every delivery,
/// when they resolve.
pub fn check_url(settings: &Settings, egress: &Egress, text: &str) -> Result<Url, String> {
    if text.chars().count() > URL_MAX_CHARS {
        return Err(format!("must be at most {URL_MAX_CHARS} characters"));
    }
    let url = Url::parse(text).map_err(|e| format!("is not an absolute URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if settings.webhook_allow_http_loopback && is_loopback(&url) => {}
        "http" => {
            return Err(
                "must be https (http is accepted only for loopback hosts, with webhook_allow_http_loopback)"
                    .into(),
            );
        }
        other => return Err(format!("must be https, not {other}")),
    }
    if url.fragment().is_some() {
        return Err("must not have a fragment".into());
    }
    crate::egress::http::check_url(egress, &url).map_err(|e| e.message)?;
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::EgressPolicy;

    fn settings(allow_http: bool) -> Settings {
        Settings {
            webhook_allow_http_loopback: allow_http,
            ..Settings::default()
        }
    }

    #[test]
    fn https_is_required_unless_loopback_http_is_allowed() {
        let egress = Egress::new(EgressPolicy::new("", "", true).unwrap());
        let strict = settings(false);
        assert!(check_url(&strict, &egress, "https://hooks.example/x").is_ok());
        assert!(check_url(&strict, &egress, "http://127.0.0.1:9/x").is_err());
        assert!(check_url(&strict, &egress, "ftp://hooks.example/x").is_err());
        assert!(check_url(&strict, &egress, "https://u:p@hooks.example/x").is_err());
        assert!(check_url(&strict, &egress, "not a url").is_err());
        let loose = settings(true);
        assert!(check_url(&loose, &egress, "http://127.0.0.1:9/x").is_ok());
        assert!(check_url(&loose, &egress, "http://[::1]:9/x").is_ok());
        assert!(check_url(&loose, &egress, "http://hooks.example/x").is_err());
        let long = format!("https://hooks.example/{}", "a".repeat(URL_MAX_CHARS));
        assert!(check_url(&strict, &egress, &long).is_err());
    }

    #[test]
    fn the_egress_policy_refuses_literal_addresses_it_forbids() {
        let egress = Egress::new(EgressPolicy::new("", "", false).unwrap());
        let err = check_url(&settings(false), &egress, "https://10.1.2.3/x").unwrap_err();
        assert!(err.contains("10.1.2.3") || err.contains("refused"), "{err}");
    }
}
