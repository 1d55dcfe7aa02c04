//! The admin API: Graph-compatible invitations, API keys (hashed, revocable), users, groups,
//! assignments, bulk upload, audit, the OpenAPI document, and what it refuses.

mod common;

use common::guests::GuestEnv;
use common::{APP_HOST, LOGIN_HOST, echoed};
use serde_json::json;

const API: &str = "/.borderless/api/v1";

struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    async fn new(env: &GuestEnv) -> Api {
        Api {
            client: env.gw.manual_client(),
            base: env.gw.url(LOGIN_HOST, API),
            key: env.admin_key("tests").await,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.expect("api call");
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        let v = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
        };
        (status, v)
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
}

#[tokio::test]
async fn graph_invitation_round_trip_and_immediate_removal() {
    let mut env = GuestEnv::start().await;
    let api = Api::new(&env).await;
    // Exactly the body a Graph script sends to POST /v1.0/invitations.
    let (status, inv) = api
        .post(
            "/invitations",
            json!({
                "invitedUserEmailAddress": "alice@fabrikam.example",
                "inviteRedirectUrl": env.gw.url(APP_HOST, "/"),
                "sendInvitationMessage": true,
                "invitedUserDisplayName": "Alice Fabrikam",
                "invitedUserMessageInfo": { "customizedMessageBody": "Hello from the API", "messageLanguage": "en-US" },
            }),
        )
        .await;
    assert_eq!(status, 201, "{inv}");
    assert_eq!(inv["status"], "PendingAcceptance");
    assert_eq!(inv["invitedUserType"], "Guest");
    let user_id = inv["invitedUser"]["id"]
        .as_str()
        .expect("user id")
        .to_string();
    let redeem = inv["inviteRedeemUrl"]
        .as_str()
        .expect("redeem url")
        .to_string();
    let mail = env.smtp().next_mail().await;
    assert_eq!(mail.redeem_link(), redeem);
    assert!(mail.text.contains("Hello from the API"));

    let alice = env.browser();
    let r = env.open_link(&alice, &redeem, "alice").await;
    let st = r.status();
    assert_eq!(st, 200, "{}", r.text().await.unwrap_or_default());
    let app: serde_json::Value = env
        .consent(&alice, "accept")
        .await
        .json()
        .await
        .expect("app json");
    assert_eq!(echoed(&app, "x-user-type"), vec!["Guest"]);
    let (_, user) = api.get(&format!("/users/{user_id}")).await;
    assert_eq!(user["user"]["externalUserState"], "Accepted");
    assert_eq!(user["user"]["displayName"], "Alice Fabrikam");

    // Graph answers a second invitation of an accepted guest with status Completed.
    let (status, again) = api
        .post(
            "/invitations",
            json!({ "invitedUserEmailAddress": "alice@fabrikam.example" }),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(again["status"], "Completed");
    assert!(again["inviteRedeemUrl"].is_null());

    // A past expiry through the API ends the session on the next request; null lifts it.
    let app_url = env.gw.url(APP_HOST, "/");
    let (status, _) = api
        .call(
            reqwest::Method::PATCH,
            &format!("/users/{user_id}"),
            Some(json!({ "expiresAt": 1 })),
        )
        .await;
    assert_eq!(status, 200);
    assert!(
        alice
            .get(&app_url)
            .send()
            .await
            .expect("app")
            .url()
            .host_str()
            != Some(APP_HOST)
    );
    let (_, u) = api
        .call(
            reqwest::Method::PATCH,
            &format!("/users/{user_id}"),
            Some(json!({ "expiresAt": null })),
        )
        .await;
    assert!(u["expiresAt"].is_null());
    let alice = env.browser();
    assert_eq!(env.visit_app(&alice, APP_HOST, "alice").await.status(), 200);

    // Removal through the API ends the session on the very next request (same process).
    let app_url = env.gw.url(APP_HOST, "/");
    assert_eq!(alice.get(&app_url).send().await.expect("app").status(), 200);
    let (status, _) = api
        .call(reqwest::Method::DELETE, &format!("/users/{user_id}"), None)
        .await;
    assert_eq!(status, 204);
    let r = alice.get(&app_url).send().await.expect("app");
    assert!(
        r.url().host_str() != Some(APP_HOST),
        "removed guest still reached the app"
    );
    let (status, _) = api.get(&format!("/users/{user_id}")).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn keys_are_required_hashed_and_revocable() {
    let env = GuestEnv::start().await;
    let api = Api::new(&env).await;
    let client = env.gw.manual_client();
    let url = format!("{}/users", api.base);
    assert_eq!(client.get(&url).send().await.expect("no key").status(), 401);
    for bad in [
        "Bearer blk_not-a-key",
        "Basic dXNlcjpwYXNz",
        "Bearer",
        &format!("Bearer {}x", api.key),
    ] {
        let r = client
            .get(&url)
            .header("authorization", bad)
            .send()
            .await
            .expect("bad key");
        assert_eq!(r.status(), 401, "{bad}");
        let body: serde_json::Value = r.json().await.expect("json error");
        assert_eq!(body["error"]["code"], "Unauthorized");
        assert!(body["error"]["requestId"].as_str().is_some());
    }
    assert_eq!(api.get("/users").await.0, 200);
    // Only the hash is in the database.
    let stored: Vec<String> = sqlx::query_scalar::<_, String>("SELECT key_hash FROM admin_keys")
        .fetch_all(env.gw.gw.directory.pool())
        .await
        .expect("keys");
    assert!(
        stored
            .iter()
            .all(|h| h.len() == 64 && !api.key.contains(h.as_str()))
    );
    assert!(
        env.cli(&["admin-keys", "revoke", "tests"])
            .await
            .status
            .success()
    );
    assert_eq!(api.get("/users").await.0, 401);
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let env = GuestEnv::start().await;
    let api = Api::new(&env).await;
    let cases = [
        (
            json!({ "invitedUserEmailAddress": "a@b@fabrikam.example" }),
            400,
            "exactly one @",
        ),
        (
            json!({ "invitedUserEmailAddress": "x@blocked.example" }),
            403,
            "blocked",
        ),
        (
            json!({ "invitedUserEmailAddress": "x@fabrikam.example", "inviteRedirectUrl": "https://evil.example/" }),
            400,
            "not an address of an app",
        ),
        (
            json!({ "invitedUserEmailAddress": "x@fabrikam.example", "apps": ["nope"] }),
            400,
            "unknown app",
        ),
        (
            json!({ "invitedUserEmailAddress": "x@fabrikam.example", "groups": ["nope"] }),
            400,
            "unknown group",
        ),
        (
            json!({ "invitedUserEmailAddress": "x@fabrikam.example", "invitedUserType": "Member" }),
            400,
            "Guest",
        ),
        (
            json!({ "invitedUserEmailAddres": "typo@fabrikam.example" }),
            400,
            "unknown field",
        ),
        (
            json!({ "invitedUserEmailAddress": 42 }),
            400,
            "invitedUserEmailAddress",
        ),
    ];
    for (body, status, needle) in cases {
        let (s, v) = api.post("/invitations", body.clone()).await;
        assert_eq!(s, status, "{body}: {v}");
        let msg = v["error"]["message"].as_str().unwrap_or("");
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    // Not JSON at all, wrong media type, unknown route, wrong method.
    let r = api
        .client
        .post(format!("{}/invitations", api.base))
        .bearer_auth(&api.key)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 400);
    let r = api
        .client
        .post(format!("{}/invitations", api.base))
        .bearer_auth(&api.key)
        .body("invitedUserEmailAddress=x@fabrikam.example")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 415);
    assert_eq!(api.get("/nothing").await.0, 404);
    assert_eq!(api.call(reqwest::Method::PUT, "/users", None).await.0, 405);
    // Nothing of that was written.
    let (_, users) = api.get("/users").await;
    assert_eq!(users["value"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn groups_assignments_bulk_and_audit_through_the_api() {
    let env = GuestEnv::start().await;
    let api = Api::new(&env).await;
    let (s, g) = api
        .post(
            "/groups",
            json!({ "displayName": "partners", "owners": ["owner@contoso.example"] }),
        )
        .await;
    assert_eq!(s, 201, "{g}");
    let (s, _) = api
        .post(
            "/assignments",
            json!({ "app": "wiki", "principalType": "group", "principalId": "partners" }),
        )
        .await;
    assert_eq!(s, 204);
    let (s, inv) = api
        .post(
            "/invitations",
            json!({ "invitedUserEmailAddress": "carol@fabrikam.example", "groups": ["partners"] }),
        )
        .await;
    assert_eq!(s, 201, "{inv}");
    let carol = inv["invitedUser"]["id"].as_str().expect("id");
    let (_, detail) = api.get(&format!("/users/{carol}")).await;
    assert_eq!(detail["apps"], json!(["wiki"]));
    let (_, assignments) = api.get("/assignments").await;
    assert_eq!(assignments["value"][0]["principalType"], "group");

    // Bulk: 2000 rows pass, 2001 are refused before anything is written.
    let mut csv = String::from(
        "Email address to invite [inviteeEmail] Required,Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail]\n",
    );
    for i in 0..2000 {
        csv.push_str(&format!("guest{i}@fabrikam.example,,false\n"));
    }
    let bulk = |body: String| {
        api.client
            .post(format!("{}/invitations/bulk", api.base))
            .bearer_auth(&api.key)
            .header("content-type", "text/csv")
            .body(body)
            .send()
    };
    let r = bulk(csv.clone()).await.expect("bulk");
    assert_eq!(r.status(), 200);
    let report: serde_json::Value = r.json().await.expect("report");
    assert_eq!(report["invited"], 2000);
    assert_eq!(report["failed"], 0);
    let mut too_many = csv.replace("guest", "other");
    too_many.push_str("one-more@fabrikam.example,,false\n");
    let r = bulk(too_many).await.expect("bulk");
    assert_eq!(r.status(), 400);
    let err: serde_json::Value = r.json().await.expect("error");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("2000")
    );
    let (_, users) = api.get("/users").await;
    assert_eq!(
        users["value"].as_array().map(Vec::len),
        Some(2001),
        "2001-row file wrote something"
    );

    let (_, audit) = api.get("/audit?since=0&limit=10000").await;
    let actions: Vec<&str> = audit["value"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"group.created") && actions.contains(&"assignment.added"));
    assert!(
        audit["value"]
            .as_array()
            .expect("events")
            .iter()
            .any(|e| e["actor"] == "api-key:tests")
    );
}

#[tokio::test]
async fn app_owners_invite_to_their_own_app_with_their_session() {
    let env = GuestEnv::start().await;
    // The owner is a guest too (owners are matched by address); let them in first.
    env.cli_json(&[
        "invite",
        "owner@contoso.example",
        "--app",
        "hr",
        "--no-email",
    ])
    .await;
    let owner = env.browser();
    assert_eq!(env.visit_app(&owner, APP_HOST, "owner").await.status(), 200);
    assert_eq!(env.consent(&owner, "accept").await.status(), 200);

    let url = env.gw.url(LOGIN_HOST, &format!("{API}/invitations"));
    let origin = env.gw.url(LOGIN_HOST, "");
    let post = |body: serde_json::Value, origin: String| {
        owner.post(&url).header("origin", origin).json(&body).send()
    };
    let r = post(
        json!({ "invitedUserEmailAddress": "x@fabrikam.example", "apps": ["wiki"] }),
        origin.clone(),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 403);
    let err: serde_json::Value = r.json().await.expect("json");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("not an owner of the app `wiki`")
    );
    let r = post(
        json!({ "invitedUserEmailAddress": "x@fabrikam.example" }),
        origin.clone(),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 403, "an owner must name their app");
    let r = post(
        json!({ "invitedUserEmailAddress": "x@fabrikam.example", "apps": ["hr"] }),
        origin.clone(),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 201);
    // From another site, or as a form, the cookie is not enough.
    let r = post(
        json!({ "invitedUserEmailAddress": "y@fabrikam.example", "apps": ["hr"] }),
        "https://evil.example".into(),
    )
    .await
    .expect("post");
    assert_eq!(r.status(), 403);
    let r = owner
        .post(&url)
        .header("origin", &origin)
        .form(&[("invitedUserEmailAddress", "y@fabrikam.example")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);
    // And a session never reaches the rest of the API.
    assert_eq!(
        owner
            .get(env.gw.url(LOGIN_HOST, &format!("{API}/users")))
            .send()
            .await
            .expect("get")
            .status(),
        403
    );
}

#[tokio::test]
async fn openapi_document_describes_every_operation() {
    let env = GuestEnv::start().await;
    let r = env
        .gw
        .manual_client()
        .get(env.gw.url(LOGIN_HOST, &format!("{API}/openapi.json")))
        .send()
        .await
        .expect("openapi");
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    for (path, method) in [
        ("/invitations", "post"),
        ("/invitations/bulk", "post"),
        ("/users", "get"),
        ("/users/{id}", "get"),
        ("/users/{id}", "patch"),
        ("/users/{id}", "delete"),
        ("/users/{id}/resend", "post"),
        ("/users/{id}/reset-redemption", "post"),
        ("/groups", "get"),
        ("/groups", "post"),
        ("/groups/{id}", "get"),
        ("/groups/{id}", "delete"),
        ("/groups/{id}/members", "post"),
        ("/groups/{id}/members/{userId}", "delete"),
        ("/assignments", "get"),
        ("/assignments", "post"),
        ("/assignments", "delete"),
        ("/audit", "get"),
        ("/whatif", "post"),
        ("/users/{id}/mfa", "get"),
        ("/users/{id}/mfa", "delete"),
    ] {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} undocumented"
        );
    }
    for f in [
        "invitedUserEmailAddress",
        "inviteRedirectUrl",
        "sendInvitationMessage",
        "invitedUserDisplayName",
        "invitedUserMessageInfo",
    ] {
        assert!(doc["components"]["schemas"]["InvitationRequest"]["properties"][f].is_object());
    }
    for f in ["inviteRedeemUrl", "status", "invitedUser"] {
        assert!(doc["components"]["schemas"]["Invitation"]["properties"][f].is_object());
    }
}
