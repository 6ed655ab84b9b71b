//! The egress guard on its own: a resolver the test controls, a connector that
//! records what it was asked to reach, and loopback listeners that count visitors.
//! Nothing here sends a packet beyond loopback.

#[path = "common/egress.rs"]
mod support_egress;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use onramp::connectors::Fault;
use onramp::egress::http::GuardedClient;
use onramp::egress::{Egress, EgressPolicy};
use support_egress::{RecordingConnector, ScriptedResolver, counting_listener, shared};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn guard(deny: &str) -> (Egress, Arc<ScriptedResolver>, Arc<RecordingConnector>) {
    let resolver = shared::<ScriptedResolver>();
    let connector = shared::<RecordingConnector>();
    let policy = EgressPolicy::new("", deny, true).unwrap();
    (
        Egress::with(policy, resolver.clone(), connector.clone()),
        resolver,
        connector,
    )
}

#[tokio::test]
async fn names_of_forbidden_addresses_are_refused_without_a_connection() {
    let (egress, resolver, connector) = guard("");
    resolver.answer("metadata.test", &[&["169.254.169.254"]]);
    resolver.answer("ec2.test", &[&["fd00:ec2::254"]]);
    resolver.answer("zero.test", &[&["0.0.0.0"]]);
    resolver.answer("multi.test", &[&["224.0.0.251"]]);
    resolver.answer("mixed.test", &[&["127.0.0.1", "169.254.169.254"]]);
    for (name, class) in [
        ("metadata.test", "link-local"),
        ("ec2.test", "metadata"),
        ("zero.test", "unspecified"),
        ("multi.test", "multicast"),
        ("mixed.test", "link-local"),
    ] {
        let e = egress.connect(name, 80).await.unwrap_err();
        assert_eq!(e.fault, Fault::Egress, "{name}");
        assert!(
            e.message.contains(class) && e.message.contains("no connection was attempted"),
            "{name}: {}",
            e.message
        );
        assert!(e.hint.contains("ONRAMP_EGRESS_ALLOW"), "{}", e.hint);
    }
    assert!(connector.attempts().is_empty(), "nothing was connected to");
}

#[tokio::test]
async fn a_name_is_resolved_once_so_a_rebinding_answer_never_reaches_the_connection() {
    let (port, seen) = counting_listener("127.0.0.1").await;
    let (egress, resolver, connector) = guard("");
    // First answer allowed, every later one forbidden: the guard must not ask twice.
    resolver.answer("rebind.test", &[&["127.0.0.1"], &["169.254.169.254"]]);
    let stream = egress.connect("rebind.test", port).await.unwrap();
    drop(stream);
    assert_eq!(resolver.lookups_of("rebind.test"), 1);
    assert_eq!(
        connector.attempts(),
        vec![format!("127.0.0.1:{port}").parse().unwrap()]
    );
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 1);

    // The reverse order: refused at the first answer, nothing connected.
    resolver.answer("rebind2.test", &[&["169.254.169.254"], &["127.0.0.1"]]);
    assert_eq!(
        egress
            .connect("rebind2.test", port)
            .await
            .unwrap_err()
            .fault,
        Fault::Egress
    );
    assert_eq!(connector.attempts().len(), 1);
}

#[tokio::test]
async fn a_denied_loopback_address_is_never_contacted_while_another_still_works() {
    let (denied_port, denied_seen) = counting_listener("127.0.0.2").await;
    let (open_port, open_seen) = counting_listener("127.0.0.1").await;
    let egress = Egress::new(EgressPolicy::new("", "127.0.0.2/32", true).unwrap());
    let e = egress.connect("127.0.0.2", denied_port).await.unwrap_err();
    assert_eq!(e.fault, Fault::Egress);
    assert!(e.message.contains("deny list"), "{}", e.message);
    assert!(egress.connect("127.0.0.1", open_port).await.is_ok());
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        denied_seen.load(Ordering::SeqCst),
        0,
        "the denied listener saw nothing"
    );
    assert_eq!(open_seen.load(Ordering::SeqCst), 1);
}

/// An HTTP server on 127.0.0.1 that answers every request with a redirect to `location`.
async fn redirecting_server(location: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let location = location.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn redirects_to_denied_addresses_are_refused_before_they_are_followed() {
    let (denied_port, denied_seen) = counting_listener("127.0.0.2").await;
    let resolver = shared::<ScriptedResolver>();
    let connector = shared::<RecordingConnector>();
    resolver.answer("inside.test", &[&["127.0.0.2"]]);
    resolver.answer("start.test", &[&["127.0.0.1"]]);
    let policy = EgressPolicy::new("", "127.0.0.2/32", true).unwrap();
    let egress = Egress::with(policy, resolver.clone(), connector);
    let client = GuardedClient::new(egress, reqwest::Client::builder()).unwrap();

    for target in [
        format!("http://127.0.0.2:{denied_port}/secret"),
        format!("http://inside.test:{denied_port}/secret"),
    ] {
        let port = redirecting_server(target.clone()).await;
        let e = client
            .send(client.client.get(format!("http://127.0.0.1:{port}/")))
            .await
            .unwrap_err();
        assert_eq!(e.fault, Fault::Egress, "{target}: {e:?}");
        // The same through a name that resolves to the redirecting server.
        let e = client
            .send(client.client.get(format!("http://start.test:{port}/")))
            .await
            .unwrap_err();
        assert_eq!(e.fault, Fault::Egress, "{target}: {e:?}");
    }
    // A literal denied URL is refused before any connection; so are user-info tricks.
    let e = client
        .send(
            client
                .client
                .get(format!("http://127.0.0.2:{denied_port}/")),
        )
        .await
        .unwrap_err();
    assert_eq!(e.fault, Fault::Egress);
    let e = client
        .request(reqwest::Method::GET, "http://user:pw@127.0.0.1:1/")
        .unwrap_err();
    assert!(e.message.contains("user information"), "{}", e.message);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        denied_seen.load(Ordering::SeqCst),
        0,
        "the denied listener saw nothing"
    );
}

/// An HTTP server on 127.0.0.1 that answers every request with 200 and `body`.
async fn answering_server(body: &'static str) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            });
        }
    });
    (port, seen)
}

#[tokio::test]
async fn a_proxy_from_the_environment_is_never_used() {
    // A proxy would connect to an address the guard never checked. nextest runs each
    // test in its own process, so the variables reach no other test.
    let (proxy_port, proxy_seen) = counting_listener("127.0.0.1").await;
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    for name in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "all_proxy",
    ] {
        // SAFETY: set before any other thread of this test reads the environment.
        unsafe { std::env::set_var(name, &proxy) };
    }
    unsafe { std::env::remove_var("NO_PROXY") };
    unsafe { std::env::remove_var("no_proxy") };
    let (target_port, target_seen) = answering_server("direct").await;
    let client = GuardedClient::new(
        Egress::new(EgressPolicy::new("", "", true).unwrap()),
        reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)),
    )
    .unwrap();
    // A name, so that no loopback exception of a proxy rule can hide the difference.
    let answer = client
        .send(
            client
                .client
                .get(format!("http://localhost:{target_port}/")),
        )
        .await
        .expect("the target answers directly");
    assert_eq!(answer.text().await.unwrap(), "direct");
    assert_eq!(target_seen.load(Ordering::SeqCst), 1);
    assert_eq!(
        proxy_seen.load(Ordering::SeqCst),
        0,
        "the proxy saw a connection"
    );
}

#[tokio::test]
async fn onramps_own_endpoints_are_refused_whatever_the_policy_allows_and_never_contacted() {
    let (own_port, own_seen) = counting_listener("127.0.0.1").await;
    let (other_port, other_seen) = answering_server("other").await;
    let own = format!("127.0.0.1:{own_port}").parse().unwrap();
    // Loopback allowed, even listed in the allow list: the own endpoint stays refused.
    let policy = EgressPolicy::new("127.0.0.0/8", "", true).unwrap();
    let egress = Egress::new(policy).protecting(vec![own]);
    let e = egress.connect("127.0.0.1", own_port).await.unwrap_err();
    assert_eq!(e.fault, Fault::Egress);
    assert!(e.message.contains("onramp's own services"), "{}", e.message);
    let client = GuardedClient::new(egress.clone(), reqwest::Client::builder()).unwrap();
    for url in [
        format!("http://127.0.0.1:{own_port}/"),
        format!("http://localhost:{own_port}/"),
    ] {
        let e = client.send(client.client.get(&url)).await.unwrap_err();
        assert_eq!(e.fault, Fault::Egress, "{url}: {e:?}");
    }
    // The same address on another port is another server: reachable.
    let answer = client
        .send(client.client.get(format!("http://localhost:{other_port}/")))
        .await
        .unwrap();
    assert_eq!(answer.text().await.unwrap(), "other");
    assert_eq!(other_seen.load(Ordering::SeqCst), 1);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(
        own_seen.load(Ordering::SeqCst),
        0,
        "the own endpoint saw nothing"
    );
}
