//! The redis provider against a real Redis (`scripts/servers/redis.sh`): ACL users created,
//! an empty second plan, in-place updates and replacement, hand changes (`ACL SETUSER` by
//! someone else) found as drift and undone, destroy checked with `ACL LIST`, hostile names
//! refused, no secret in state, and the user really limited to its keys.

mod common;

use std::collections::BTreeMap;

use common::{actions, drifted, messages, secret, server_env, unique, Run, SECRETS};
use obp_engine::plan::Action;
use obp_engine::provider::{Provider, ProviderError, ResourceRef};
use obp_providers::redis::Redis;
use redis::aio::MultiplexedConnection;
use redis::Value;
use serde_json::{json, Value as Json};

fn url() -> String {
    server_env("OBP_TEST_REDIS_URL", "redis")
}

/// A direct admin connection (not through the provider).
async fn admin() -> MultiplexedConnection {
    redis::Client::open(url().as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn run_cmd(
    connection: &mut MultiplexedConnection,
    args: &[&str],
) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query_async(connection).await
}

/// `ACL LIST` lines of users whose name starts with `prefix`.
async fn acl_list(prefix: &str) -> Vec<String> {
    let mut connection = admin().await;
    let lines: Vec<String> = redis::cmd("ACL")
        .arg("LIST")
        .query_async(&mut connection)
        .await
        .unwrap();
    lines
        .into_iter()
        .filter(|l| l.starts_with(&format!("user {prefix}")))
        .collect()
}

/// A connection authenticated as `user` (AUTH with the password as an argument).
async fn login(user: &str, password: &str) -> Option<MultiplexedConnection> {
    let base = url();
    let (_, rest) = base.split_once('@').unwrap();
    let mut connection = redis::Client::open(format!("redis://{rest}").as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    run_cmd(&mut connection, &["AUTH", user, password])
        .await
        .ok()
        .map(|_| connection)
}

fn sha256(text: &str) -> String {
    obp_providers::attrs::sha256_hex(text.as_bytes())
}

fn stack(user: &str, body: &str) -> String {
    format!(
        r#"
stack r {{}}
provider redis {{ url = secret("env:OBP_TEST_REDIS_URL") }}
resource redis.acl_user tenant {{
  name = "{user}"
{body}
}}
"#
    )
}

fn tenant(user: &str, password: &str, patterns: &str) -> String {
    stack(
        user,
        &format!(
            r#"  password = secret("{password}")
  key_patterns = {patterns}
  categories = ["+@read", "+@write", "+@keyspace", "+@connection", "-@dangerous"]"#
        ),
    )
}

#[tokio::test]
async fn acl_user_create_update_replace_drift_destroy() {
    let user = unique("obp-user");
    let prefix = format!("tenant:{user}:");
    let patterns = format!(r#"["{prefix}*"]"#);
    let run = Run::new(&tenant(&user, "test/pw1", &patterns));
    let created = run.converge().await;
    assert_eq!(
        actions(&created),
        [("redis.acl_user.tenant".to_owned(), Action::Create)]
    );
    let listed = acl_list(&user).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].contains(&format!("#{}", sha256(secret(1)))),
        "{listed:?}"
    );
    assert!(listed[0].contains(&format!("~{prefix}*")), "{listed:?}");
    assert!(!run.plan(false).await.has_changes(), "second plan is empty");

    // The user is limited to its prefix and to safe commands.
    let mut own = login(&user, secret(1)).await.expect("the user logs in");
    let key = format!("{prefix}session");
    assert!(run_cmd(&mut own, &["SET", &key, "1"]).await.is_ok());
    assert!(run_cmd(&mut own, &["SET", "other:key", "1"]).await.is_err());
    assert!(run_cmd(&mut own, &["FLUSHALL"]).await.is_err());
    assert!(login(&user, "wrong").await.is_none());

    // No secret in state: the reference and the hash Redis itself keeps.
    let state = run.state_text();
    for (_, value) in SECRETS {
        assert!(!state.contains(value), "a secret value leaked into state");
    }
    assert!(state.contains("\"$secret\": \"test/pw1\""), "{state}");

    // In place: a second pattern and another password.
    let patterns2 = format!(r#"["{prefix}*", "cache:{user}:*"]"#);
    run.edit(&tenant(&user, "test/pw2", &patterns2));
    let updated = run.converge().await;
    assert_eq!(
        actions(&updated),
        [("redis.acl_user.tenant".to_owned(), Action::Update)]
    );
    assert!(login(&user, secret(2)).await.is_some());
    assert!(login(&user, secret(1)).await.is_none());
    assert!(!run.plan(false).await.has_changes());

    // By hand: all keys, FLUSHALL, and an extra password. All drift; apply undoes it.
    let mut connection = admin().await;
    run_cmd(
        &mut connection,
        &["ACL", "SETUSER", &user, "~*", "+flushall", ">typed-by-hand"],
    )
    .await
    .unwrap();
    let drift = run.plan(false).await;
    assert_eq!(drifted(&drift), ["redis.acl_user.tenant"]);
    let paths: Vec<&str> = drift.drift[0]
        .diffs
        .iter()
        .map(|d| d.path.as_str())
        .collect();
    assert!(paths.contains(&"password"), "{paths:?}");
    assert!(
        paths.iter().any(|p| p.starts_with("key_patterns")),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("categories")),
        "{paths:?}"
    );
    assert_eq!(
        actions(&drift),
        [("redis.acl_user.tenant".to_owned(), Action::Update)]
    );
    run.apply(&drift).await;
    let listed = acl_list(&user).await;
    assert!(!listed[0].contains("~* "), "{listed:?}");
    assert!(!listed[0].contains("+flushall"), "{listed:?}");
    assert!(login(&user, "typed-by-hand").await.is_none());
    assert!(login(&user, secret(2)).await.is_some());
    assert!(!run.plan(false).await.has_changes());

    // Disabled in place.
    run.edit(
        &tenant(&user, "test/pw2", &patterns2)
            .replace("  password =", "  enabled = false\n  password ="),
    );
    run.converge().await;
    assert!(acl_list(&user).await[0].starts_with(&format!("user {user} off")));
    assert!(login(&user, secret(2)).await.is_none());

    // Deleted by hand: created again.
    run_cmd(&mut connection, &["ACL", "DELUSER", &user])
        .await
        .unwrap();
    let recreate = run.plan(false).await;
    assert_eq!(recreate.drift[0].kind, "deleted");
    run.apply(&recreate).await;

    // A new name replaces the user.
    let renamed = unique("obp-user");
    run.edit(&tenant(&renamed, "test/pw2", &patterns2));
    let replaced = run.converge().await;
    assert_eq!(
        actions(&replaced),
        [("redis.acl_user.tenant".to_owned(), Action::Replace)]
    );
    assert!(acl_list(&user).await.is_empty());
    assert_eq!(acl_list(&renamed).await.len(), 1);

    run.destroy().await;
    assert!(
        acl_list(&renamed).await.is_empty(),
        "destroy left the user behind"
    );
}

#[tokio::test]
async fn hostile_names_and_rules_are_refused_before_anything_runs() {
    let before = acl_list("").await;
    let long = "u".repeat(300);
    for (name, expected) in [
        ("../x", "not allowed"),
        (long.as_str(), "300 bytes"),
        ("a b", "not allowed"),
        ("default", "server's own"),
        ("x >pw ~* +@all", "not allowed"),
    ] {
        let run = Run::new(&stack(name, "  password = secret(\"test/pw1\")"));
        let text = messages(&run.try_plan(false).await.expect_err("plan must refuse"));
        assert!(text.contains("`name`") && text.contains(expected), "{text}");
    }
    let user = unique("obp-user");
    let run = Run::new(&stack(
        &user,
        r#"  password = "plain"
  key_patterns = ["ok:*", "~*", "a b"]
  categories = ["+@all", "allcommands"]
  commands = ["+get", "+flushall ~*"]"#,
    ));
    let text = messages(&run.try_plan(false).await.unwrap_err());
    for expected in [
        "`password`",
        "rule prefix",
        "whitespace",
        "allcommands",
        "+flushall ~*",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }
    // Straight to the provider: refused too.
    let provider = Redis::new(&BTreeMap::from([(
        "url".to_owned(),
        json!({"$secret": "env:OBP_TEST_REDIS_URL"}),
    )]))
    .unwrap();
    let reference = ResourceRef {
        order: None,
        address: "redis.acl_user.x",
        rtype: "redis.acl_user",
    };
    let inputs: BTreeMap<String, Json> = [
        ("name".to_owned(), json!("evil ~* +@all")),
        ("key_patterns".to_owned(), json!(["*"])),
    ]
    .into_iter()
    .collect();
    let error = provider.create(&reference, &inputs).await.unwrap_err();
    assert!(
        matches!(
            error,
            ProviderError::Invalid {
                attribute: Some(_),
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        acl_list("").await.len(),
        before.len(),
        "nothing was created"
    );
}

#[tokio::test]
async fn an_existing_user_is_not_taken_over_but_can_be_imported() {
    let user = unique("obp-user");
    let mut connection = admin().await;
    run_cmd(
        &mut connection,
        &[
            "ACL",
            "SETUSER",
            &user,
            "on",
            ">hand-made",
            "~legacy:*",
            "+@read",
        ],
    )
    .await
    .unwrap();
    let run = Run::new(&tenant(&user, "test/pw1", r#"["legacy:*"]"#));
    let made = run.plan(false).await;
    let report = run.try_apply(&made).await;
    let message = format!("{:?}", report.failed);
    assert!(message.contains("already exists"), "{message}");
    assert!(
        login(&user, "hand-made").await.is_some(),
        "the user was left alone"
    );

    let provider = Redis::new(&BTreeMap::from([("url".to_owned(), json!(url()))])).unwrap();
    let reference = ResourceRef {
        order: None,
        address: "redis.acl_user.tenant",
        rtype: "redis.acl_user",
    };
    let imported = provider.import(&reference, &user).await.unwrap();
    assert_eq!(imported.inputs["key_patterns"], json!(["legacy:*"]));
    assert_eq!(imported.inputs["password"], json!("(changed outside obp)"));
    assert_eq!(
        imported.outputs["password_sha256"],
        json!(sha256("hand-made"))
    );
    run_cmd(&mut connection, &["ACL", "DELUSER", &user])
        .await
        .unwrap();
}
