//! The DNS provider against a real PowerDNS server (started by `scripts/servers/pdns.sh`):
//! create, an empty second plan, in-place update, replacement, drift made directly through the
//! server's API, destroy leaving nothing (checked on the server), and hostile input.

mod common;

use common::{actions, server_env, Run};
use obp_engine::plan::Action;
use serde_json::{json, Value as Json};

fn server() -> (String, String) {
    (
        server_env("OBP_TEST_PDNS_URL", "pdns"),
        server_env("OBP_TEST_PDNS_KEY", "pdns"),
    )
}

/// A zone name no other test uses.
fn zone(test: &str) -> String {
    format!("{test}-{}.obp-test.example", std::process::id())
}

/// A stack managing `body` through the test server's API.
fn stack(body: &str) -> String {
    let (url, _) = server();
    format!("stack dns_test {{}}\nprovider dns {{\n  url = \"{url}\"\n  api_key = secret(\"env:OBP_TEST_PDNS_KEY\")\n}}\n{body}")
}

/// The zone as the server holds it, read directly (not through the provider).
async fn live_zone(zone: &str) -> Option<Json> {
    let (url, key) = server();
    for _ in 0..20 {
        let response = reqwest::Client::new()
            .get(format!("{url}/api/v1/servers/localhost/zones/{zone}."))
            .header("X-API-Key", &key)
            .send()
            .await
            .unwrap();
        // A 500 is SQLite contention with a parallel test: ask again.
        if response.status().is_server_error() {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        }
        if !response.status().is_success() {
            return None;
        }
        return Some(response.json().await.unwrap());
    }
    panic!("PowerDNS kept answering 500 for zone {zone}");
}

fn live_records(zone: &Json, name: &str, rtype: &str) -> Vec<String> {
    let mut records: Vec<String> = zone["rrsets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["name"] == name && s["type"] == rtype)
        .flat_map(|s| {
            s["records"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["content"].as_str().unwrap().to_owned())
        })
        .collect();
    records.sort();
    records
}

fn body(zone: &str, records: &str, rtype: &str) -> String {
    format!(
        "resource dns.zone main {{\n  name = \"{zone}\"\n  nameservers = [\"ns1.{zone}\"]\n}}\nresource dns.record erp {{\n  zone = dns.zone.main.name\n  name = \"erp\"\n  type = \"{rtype}\"\n  ttl = 120\n  records = {records}\n}}\nresource dns.record spf {{\n  zone = dns.zone.main.name\n  name = \"@\"\n  type = \"TXT\"\n  records = [\"v=spf1 -all\"]\n}}\n"
    )
}

#[tokio::test]
async fn zone_and_records_round_trip_on_the_server() {
    let zone = zone("roundtrip");
    let run = Run::new(&stack(&body(&zone, "[\"10.0.0.1\", \"10.0.0.2\"]", "A")));
    let first = run.plan(false).await;
    assert_eq!(first.count(Action::Create), 3);
    run.apply(&first).await;
    let live = live_zone(&zone)
        .await
        .expect("the zone exists on the server");
    assert_eq!(
        live_records(&live, &format!("erp.{zone}."), "A"),
        ["10.0.0.1", "10.0.0.2"]
    );
    assert_eq!(
        live_records(&live, &format!("{zone}."), "TXT"),
        ["\"v=spf1 -all\""]
    );
    assert!(
        !run.plan(false).await.has_changes(),
        "a second plan is empty"
    );
    assert!(
        !run.state_text().contains(&server().1),
        "the API key never reaches state"
    );

    // Records change in place.
    run.edit(&stack(&body(&zone, "[\"10.0.0.3\"]", "A")));
    let update = run.plan(false).await;
    assert_eq!(
        actions(&update),
        [("dns.record.erp".to_owned(), Action::Update)]
    );
    run.apply(&update).await;
    assert_eq!(
        live_records(
            &live_zone(&zone).await.unwrap(),
            &format!("erp.{zone}."),
            "A"
        ),
        ["10.0.0.3"]
    );

    // The type cannot change in place: the set is replaced.
    run.edit(&stack(&body(&zone, "[\"2001:db8::1\"]", "AAAA")));
    let replace = run.plan(false).await;
    assert_eq!(
        actions(&replace),
        [("dns.record.erp".to_owned(), Action::Replace)]
    );
    run.apply(&replace).await;
    let live = live_zone(&zone).await.unwrap();
    assert!(live_records(&live, &format!("erp.{zone}."), "A").is_empty());
    assert_eq!(
        live_records(&live, &format!("erp.{zone}."), "AAAA"),
        ["2001:db8::1"]
    );

    // Destroy leaves nothing behind on the server.
    run.apply(&run.plan(true).await).await;
    assert!(
        live_zone(&zone).await.is_none(),
        "the zone is gone from the server"
    );
}

/// A CNAME target may be written with or without its final dot; both are the same record, so
/// neither spelling shows as drift on the next plan.
#[tokio::test]
async fn cname_targets_with_or_without_the_final_dot_are_stable() {
    for (test, target) in [
        ("cname-dot", "\"ingress.example.net.\""),
        ("cname-nodot", "\"ingress.example.net\""),
    ] {
        let zone = zone(test);
        let run = Run::new(&stack(&body(&zone, &format!("[{target}]"), "CNAME")));
        run.apply(&run.plan(false).await).await;
        assert_eq!(
            live_records(
                &live_zone(&zone).await.unwrap(),
                &format!("erp.{zone}."),
                "CNAME"
            ),
            ["ingress.example.net."]
        );
        let again = run.plan(false).await;
        assert!(
            again.drift.is_empty() && !again.has_changes(),
            "{target}: {:?}",
            actions(&again)
        );
        run.apply(&run.plan(true).await).await;
    }
}

#[tokio::test]
async fn records_changed_on_the_server_are_drift() {
    let zone = zone("drift");
    let run = Run::new(&stack(&body(&zone, "[\"10.0.0.1\"]", "A")));
    run.apply(&run.plan(false).await).await;
    let (url, key) = server();
    let patch = json!({ "rrsets": [{ "name": format!("erp.{zone}."), "type": "A", "ttl": 120, "changetype": "REPLACE",
        "records": [{ "content": "192.0.2.66", "disabled": false }] }] });
    // PowerDNS's SQLite backend answers 500 while another test holds its lock: retry.
    let mut status = None;
    for _ in 0..20 {
        let response = reqwest::Client::new()
            .patch(format!("{url}/api/v1/servers/localhost/zones/{zone}."))
            .header("X-API-Key", &key)
            .json(&patch)
            .send()
            .await
            .unwrap();
        status = Some(response.status());
        if !response.status().is_server_error() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        status.is_some_and(|s| s.is_success()),
        "the out-of-band change failed: {status:?}"
    );
    let drifted = run.plan(false).await;
    assert_eq!(drifted.drift.len(), 1);
    assert_eq!(drifted.drift[0].address, "dns.record.erp");
    assert_eq!(
        actions(&drifted),
        [("dns.record.erp".to_owned(), Action::Update)]
    );
    run.apply(&drifted).await;
    assert_eq!(
        live_records(
            &live_zone(&zone).await.unwrap(),
            &format!("erp.{zone}."),
            "A"
        ),
        ["10.0.0.1"]
    );
    run.apply(&run.plan(true).await).await;
    assert!(live_zone(&zone).await.is_none());
}

#[tokio::test]
async fn hostile_names_are_refused_at_plan_time() {
    let long = "x".repeat(300);
    let run = Run::new(&stack(&format!(
        "resource dns.record a {{\n  zone = \"../x\"\n  name = \"a\"\n  type = \"A\"\n  records = [\"10.0.0.1\"]\n}}\nresource dns.record b {{\n  zone = \"ok.example\"\n  name = \"a\\\"; DROP\"\n  type = \"A\"\n  records = [\"10.0.0.1\"]\n}}\nresource dns.record c {{\n  zone = \"ok.example\"\n  name = \"{long}\"\n  type = \"A\"\n  records = [\"10.0.0.1\"]\n}}\n"
    )));
    let errors = run.try_plan(false).await.unwrap_err();
    let messages: Vec<&str> = errors.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(errors.len(), 3, "{messages:#?}");
    assert!(errors.iter().all(|d| d.code == "E0702"));
    assert!(
        messages[0].contains("`zone`")
            && messages[1].contains("`name`")
            && messages[2].contains("`name`"),
        "{messages:#?}"
    );
}
