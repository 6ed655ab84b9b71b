//! MongoDB connection strings written by a hostile tenant: options that would make
//! the driver read the worker's files or send its workload-identity token are
//! refused at the API, and every connection the driver makes goes to an address
//! the egress guard checked (seeds, SRV targets), through onramp's relay.

use serde_json::{Value, json};

use crate::helpers::{body, spawn_app, spawn_with_guard};
use crate::mongodb::fixture;
use crate::support_egress::{RecordingConnector, ScriptedResolver, shared};

#[tokio::test]
async fn connection_strings_that_reach_the_workers_credentials_or_files_are_refused_at_the_api() {
    let app = spawn_app().await;
    for (uri, named) in [
        (
            "mongodb://127.0.0.1:17017/?authMechanism=MONGODB-OIDC&authMechanismProperties=ENVIRONMENT:k8s",
            "authmechanismproperties",
        ),
        (
            "mongodb://127.0.0.1:17017/?authMechanism=MONGODB-OIDC",
            "MONGODB-OIDC",
        ),
        (
            "mongodb://127.0.0.1:17017/?authMechanism=MONGODB-AWS",
            "MONGODB-AWS",
        ),
        (
            "mongodb://127.0.0.1:17017/?tls=true&tlsCertificateKeyFile=/var/run/secrets/tls.pem",
            "tlscertificatekeyfile",
        ),
        (
            "mongodb://127.0.0.1:17017/?tlsCAFile=/etc/shadow",
            "tlscafile",
        ),
        (
            "mongodb://127.0.0.1:17017/?proxyHost=127.0.0.2",
            "proxyhost",
        ),
        (
            "mongodb://127.0.0.1:17017/?loadBalanced=true",
            "loadbalanced",
        ),
        ("mongodb://%2Ftmp%2Fmongodb-27017.sock/", "Unix socket"),
    ] {
        let answer = app
            .post_datasource(&body("mongodb", json!({"name": "m", "uri": uri})))
            .await;
        assert_eq!(answer.status(), 400, "{uri}");
        let answer: Value = answer.json().await.unwrap();
        let detail = &answer["error"]["details"][0];
        assert_eq!(detail["field"], "credentials.uri", "{answer}");
        assert!(
            detail["problem"].as_str().unwrap().contains(named),
            "{uri}: {answer}"
        );
    }
    assert_eq!(app.count("datasources").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_connection_string_reaches_the_server_only_at_addresses_the_guard_checked() {
    let resolver = shared::<ScriptedResolver>();
    let connector = shared::<RecordingConnector>();
    // Names only the test's resolver knows: a driver that looked them up itself
    // (a second lookup, around the guard) would not find them.
    resolver.answer("mongo.test", &[&["127.0.0.1"]]);
    resolver.answer("metadata.test", &[&["169.254.169.254"]]);
    resolver.answer_srv("_mongodb._tcp.cluster.test", &[("mongo.test", 17017)]);
    resolver.answer_srv(
        "_mongodb._tcp.evil.test",
        &[("metadata.test", 27017), ("mongo.test", 17017)],
    );
    let app = spawn_with_guard(resolver.clone(), connector.clone()).await;
    let database = fixture().await;

    for (name, uri) in [
        ("seeds", "mongodb://mongo.test:17017/".to_string()),
        ("srv", "mongodb+srv://cluster.test/?tls=false".to_string()),
    ] {
        let snapshot = app
            .onboard(
                "mongodb",
                json!({"name": name, "uri": uri, "database": database}),
            )
            .await;
        assert!(
            snapshot["stats"]["tables"].as_u64() >= Some(2),
            "{snapshot}"
        );
    }
    // Every connection of the driver went to the one address the guard checked.
    let attempts = connector.attempts();
    assert!(!attempts.is_empty());
    assert!(
        attempts.iter().all(|a| a.to_string() == "127.0.0.1:17017"),
        "{attempts:?}"
    );

    // A seed list or an SRV record that names a refused address is refused whole,
    // before anything is connected.
    let before = connector.attempts().len();
    for (name, uri) in [
        ("list", "mongodb://metadata.test:27017,mongo.test:17017/"),
        ("evil-srv", "mongodb+srv://evil.test/?tls=false"),
    ] {
        let job = app
            .create_and_wait(&body(
                "mongodb",
                json!({"name": name, "uri": uri, "database": database}),
            ))
            .await;
        assert_eq!(job["error"]["code"], "EGRESS_DENIED", "{job}");
        assert!(
            job["error"]["message"]
                .as_str()
                .unwrap()
                .contains("link-local"),
            "{job}"
        );
    }
    assert_eq!(connector.attempts().len(), before, "nothing was connected");
    app.stop().await;
}

/// A MongoDB "server" that answers every command, and whose `hello` names other
/// members of its replica set (a loopback listener that counts visitors).
async fn mongo_naming_members(members: &[String]) -> u16 {
    use mongodb::bson::{Document, doc};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let members: Vec<String> = members.to_vec();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let members = members.clone();
            tokio::spawn(async move {
                loop {
                    let mut header = [0u8; 16];
                    if s.read_exact(&mut header).await.is_err() {
                        return;
                    }
                    let len = i32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
                    let request_id = i32::from_le_bytes(header[4..8].try_into().unwrap());
                    let mut body = vec![0u8; len - 16];
                    if s.read_exact(&mut body).await.is_err() {
                        return;
                    }
                    // OP_MSG: flags, then section 0 (the command document).
                    let command = Document::from_reader(&body[5..]).unwrap_or_default();
                    let name = command
                        .keys()
                        .next()
                        .cloned()
                        .unwrap_or_default()
                        .to_ascii_lowercase();
                    let me = format!("127.0.0.1:{port}");
                    let answer = match name.as_str() {
                        "hello" | "ismaster" => doc! {
                            "ok": 1.0, "isWritablePrimary": true, "ismaster": true, "helloOk": true,
                            "setName": "rs0", "hosts": members.iter().cloned().chain([me.clone()]).collect::<Vec<_>>(),
                            "primary": members.first().cloned().unwrap_or(me.clone()), "me": me,
                            "maxWireVersion": 17, "minWireVersion": 0, "maxBsonObjectSize": 16777216,
                            "maxMessageSizeBytes": 48000000, "maxWriteBatchSize": 100000,
                            "logicalSessionTimeoutMinutes": 30,
                        },
                        "listcollections" => {
                            doc! {"ok": 1.0, "cursor": {"id": 0i64, "ns": "x.$cmd.listCollections", "firstBatch": []}}
                        }
                        "listdatabases" => {
                            doc! {"ok": 1.0, "databases": [{"name": "x", "sizeOnDisk": 1.0, "empty": false}]}
                        }
                        _ => doc! {"ok": 1.0},
                    };
                    let mut doc_bytes = Vec::new();
                    answer.to_writer(&mut doc_bytes).unwrap();
                    let mut reply = Vec::new();
                    let total = 16 + 4 + 1 + doc_bytes.len();
                    reply.extend_from_slice(&(total as i32).to_le_bytes());
                    reply.extend_from_slice(&1i32.to_le_bytes());
                    reply.extend_from_slice(&request_id.to_le_bytes());
                    reply.extend_from_slice(&2013i32.to_le_bytes());
                    reply.extend_from_slice(&0u32.to_le_bytes());
                    reply.push(0);
                    reply.extend_from_slice(&doc_bytes);
                    if s.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn members_a_server_names_in_its_hello_are_never_contacted() {
    let (member_port, member_seen) = crate::support_egress::counting_listener("127.0.0.1").await;
    let (other_port, other_seen) = crate::support_egress::counting_listener("127.0.0.1").await;
    let server = mongo_naming_members(&[
        format!("127.0.0.1:{member_port}"),
        format!("localhost:{other_port}"),
    ])
    .await;
    let app = spawn_app().await;
    for (name, credentials) in [
        (
            "by-host",
            json!({"name": "by-host", "host": "127.0.0.1", "port": server, "database": "x"}),
        ),
        (
            "by-uri",
            json!({"name": "by-uri", "uri": format!("mongodb://127.0.0.1:{server}/?replicaSet=rs0"), "database": "x"}),
        ),
    ] {
        let job = app.create_and_wait(&body("mongodb", credentials)).await;
        assert_eq!(job["status"], "succeeded", "{name}: {job}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        crate::support_egress::seen(&member_seen),
        0,
        "a member was contacted"
    );
    assert_eq!(
        crate::support_egress::seen(&other_seen),
        0,
        "a member was contacted"
    );
    app.stop().await;
}

/// A "MongoDB server" that answers its first message with `reply(request_id)`.
async fn mongo_answering_once(reply: fn(i32) -> Vec<u8>) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut header = [0u8; 16];
                if s.read_exact(&mut header).await.is_err() {
                    return;
                }
                let len = i32::from_le_bytes(header[0..4].try_into().unwrap()) as usize;
                let mut body = vec![0u8; len - 16];
                let _ = s.read_exact(&mut body).await;
                let id = i32::from_le_bytes(header[4..8].try_into().unwrap());
                let _ = s.write_all(&reply(id)).await;
                // Then hold the connection, as a server still "sending" would.
                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            });
        }
    });
    port
}

fn op_msg(request_id: i32, document: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((16 + 5 + document.len()) as i32).to_le_bytes());
    m.extend_from_slice(&1i32.to_le_bytes());
    m.extend_from_slice(&request_id.to_le_bytes());
    m.extend_from_slice(&2013i32.to_le_bytes());
    m.extend_from_slice(&0u32.to_le_bytes());
    m.push(0);
    m.extend_from_slice(document);
    m
}

#[tokio::test]
async fn a_reply_too_large_or_nested_too_deep_fails_the_job_before_the_driver_reads_it() {
    // 2 GiB announced, and 100,000 nested documents (a driver decoding them
    // recursively would overflow the worker's stack).
    let huge = mongo_answering_once(|id| {
        let mut m = op_msg(id, &[5, 0, 0, 0, 0]);
        m[0..4].copy_from_slice(&i32::MAX.to_le_bytes());
        m
    })
    .await;
    let deep = mongo_answering_once(|id| {
        let depth = 100_000usize;
        let mut b = Vec::new();
        for _ in 0..depth {
            b.extend_from_slice(&[0, 0, 0, 0, 0x03, b'a', 0]);
        }
        b.extend_from_slice(&[5, 0, 0, 0, 0]);
        b.extend(std::iter::repeat_n(0u8, depth));
        let mut len = 5usize;
        for level in (0..depth).rev() {
            len += 8;
            b[level * 7..level * 7 + 4].copy_from_slice(&(len as i32).to_le_bytes());
        }
        op_msg(id, &b)
    })
    .await;
    let app = spawn_app().await;
    for (port, needle) in [(huge, "over the limit"), (deep, "nested deeper than 100")] {
        let job = app
            .create_and_wait(&body(
                "mongodb",
                json!({"name": format!("m{port}"), "host": "127.0.0.1", "port": port}),
            ))
            .await;
        assert_eq!(job["status"], "failed", "{job}");
        assert!(
            job["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {job}"
        );
    }
    let database = fixture().await;
    let ok = app
        .create_and_wait(&body(
            "mongodb",
            json!({"name": "after", "host": "127.0.0.1", "port": 17017, "database": database}),
        ))
        .await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    app.stop().await;
}
