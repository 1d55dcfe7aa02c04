//! The directory and session store against every test database (SQLite, and PostgreSQL when
//! the suite is given a server): invitations, atomic redemption, reset, removal, groups,
//! assignments, admin keys, audit, sessions.

mod common;

use borderless::directory::address::Address;
use borderless::directory::groups::Principal;
use borderless::directory::invitations::{InviteResult, NewInvitation, RedeemRefusal};
use borderless::directory::{Actor, Directory, InvitationStatus, UserState, UserType};
use borderless::session::{
    NewSession, Session, SessionKey, SessionManager, SessionStore, SqlSessionStore,
};
use std::sync::Arc;

fn addr(s: &str) -> Address {
    Address::parse(s).expect("valid address")
}

fn new_invitation<'a>(email: &'a Address, upn: &'a str, apps: &'a [String]) -> NewInvitation<'a> {
    NewInvitation {
        email,
        upn,
        display_name: "Alice",
        redirect_url: "https://app.test/",
        apps,
        groups: &[],
        message: Some("Welcome"),
        send_email: true,
        ttl_secs: 3600,
    }
}

fn session_for(user_id: &str) -> Session {
    Session::from(new_session_for(user_id))
}

fn new_session_for(user_id: &str) -> NewSession {
    let now = borderless::session::now_unix();
    NewSession {
        user_key: user_id.into(),
        idp: "op".into(),
        issuer: "https://op.test".into(),
        subject: "alice".into(),
        attributes: Default::default(),
        amr: vec![],
        acr: None,
        auth_time: now,
        created_at: now,
        expires_at: now + 3600,
        mfa: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invite_redeem_reset_remove_on_every_backend() {
    let dir = tempfile::tempdir().expect("dir");
    for (backend, url) in common::databases::test_databases(dir.path()).await {
        let d = Directory::open(&url).await.expect(backend);
        let actor = Actor::Cli;
        let apps = vec!["hr".to_string()];
        let upn = "alice_fabrikam.example#EXT#@contoso.example";
        let inv = d
            .invite(
                &actor,
                &new_invitation(&addr("alice@fabrikam.example"), upn, &apps),
            )
            .await
            .expect("invite");
        assert_eq!(inv.result, InviteResult::Invited, "{backend}");
        assert_eq!(inv.user.user_type, UserType::Guest);
        assert_eq!(inv.user.state, UserState::PendingAcceptance);
        assert_eq!(inv.user.upn, upn);
        let secret = inv.secret.clone().expect("secret");
        let invitation = inv.invitation.clone().expect("invitation");

        // The secret is stored only as a hash.
        let raw: String =
            sqlx::query_scalar::<_, String>("SELECT secret_hash FROM invitations WHERE id = $1")
                .bind(&invitation.id)
                .fetch_one(d.pool())
                .await
                .expect("hash");
        assert_ne!(raw, secret, "{backend}: secret stored in clear");
        assert_eq!(raw.len(), 64);
        assert_eq!(
            d.invitation_by_secret(&secret)
                .await
                .expect("by secret")
                .map(|i| i.id),
            Some(invitation.id.clone())
        );
        assert!(
            d.invitation_by_secret("not-the-secret")
                .await
                .expect("lookup")
                .is_none()
        );
        assert_eq!(d.assigned_apps(&inv.user.id).await.expect("apps"), apps);

        // Re-inviting a pending guest issues a fresh link; the old one is revoked.
        let again = d
            .invite(
                &actor,
                &new_invitation(&addr("Alice@Fabrikam.example"), upn, &apps),
            )
            .await
            .expect("reinvite");
        assert_eq!(again.result, InviteResult::Reinvited);
        assert_eq!(again.user.id, inv.user.id);
        let old = d
            .invitation(&invitation.id)
            .await
            .expect("old")
            .expect("exists");
        assert_eq!(old.status, InvitationStatus::Revoked);
        let fresh = again.invitation.expect("fresh");
        assert_eq!(
            d.redeem(&invitation.id, ("op", "https://op.test", "alice"))
                .await
                .expect("redeem old"),
            Err(RedeemRefusal::Revoked)
        );

        // Two racing redemptions of one link, on two threads released at once: exactly
        // one wins.
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (d, id, barrier) = (d.clone(), fresh.id.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    d.redeem(&id, ("op", "https://op.test", "alice")).await
                })
            })
            .collect();
        let mut results = Vec::new();
        for r in racers {
            results.push(r.await.expect("join"));
        }
        let (b, a) = (results.pop().expect("b"), results.pop().expect("a"));
        let wins = [a.expect("a"), b.expect("b")]
            .iter()
            .filter(|r| r.is_ok())
            .count();
        assert_eq!(wins, 1, "{backend}: racing redemptions");
        let redeemed_events = d
            .audit_since(0, 1000)
            .await
            .expect("audit")
            .iter()
            .filter(|e| e.action == "invitation.redeemed")
            .count();
        assert_eq!(redeemed_events, 1);
        let user = d
            .user_by_identity("https://op.test", "alice")
            .await
            .expect("lookup")
            .expect("pinned");
        assert_eq!(user.state, UserState::Accepted);
        assert_eq!(user.idp.as_deref(), Some("op"));
        assert_eq!(
            d.redeem(&fresh.id, ("op", "https://op.test", "alice"))
                .await
                .expect("reuse"),
            Err(RedeemRefusal::AlreadyRedeemed)
        );

        // Re-inviting an accepted guest reports it and sends nothing.
        let accepted = d
            .invite(
                &actor,
                &new_invitation(&addr("alice@fabrikam.example"), upn, &[]),
            )
            .await
            .expect("invite accepted");
        assert_eq!(accepted.result, InviteResult::AlreadyAccepted);
        assert!(accepted.secret.is_none());

        // Reset: back to pending, identity unpinned, sessions ended and announced.
        let store = SqlSessionStore::open(&url).await.expect("session store");
        let sessions =
            SessionManager::new(Arc::new(store), 100, std::time::Duration::from_secs(60));
        let sid = sessions
            .create(session_for(&user.id))
            .await
            .expect("session");
        let before = d.last_revocation().await.expect("seq");
        let reset = d.reset_redemption(&actor, &user.id).await.expect("reset");
        assert_eq!(reset.state, UserState::PendingAcceptance);
        assert!(reset.issuer.is_none() && reset.subject.is_none());
        let feed = d.revocations_since(before).await.expect("feed");
        assert!(
            feed.iter().any(|(_, u)| u == &user.id),
            "{backend}: no revocation"
        );
        let store_again = SqlSessionStore::open(&url).await.expect("store");
        assert!(
            store_again.get(sid.key()).await.expect("get").is_none(),
            "{backend}: session survived reset"
        );
        let (renewed, secret2) = d.renew_link(&actor, &user.id, 3600).await.expect("renew");
        assert_eq!(renewed.status, InvitationStatus::PendingAcceptance);
        assert_ne!(secret2, secret);

        // An expired link is refused as expired.
        let exp_apps: Vec<String> = vec![];
        let bob_addr = addr("bob@fabrikam.example");
        let mut expired = new_invitation(
            &bob_addr,
            "bob_fabrikam.example#EXT#@contoso.example",
            &exp_apps,
        );
        expired.ttl_secs = -1;
        let bob = d.invite(&actor, &expired).await.expect("invite bob");
        assert_eq!(
            d.redeem(
                &bob.invitation.expect("inv").id,
                ("op", "https://op.test", "bob")
            )
            .await
            .expect("redeem"),
            Err(RedeemRefusal::Expired)
        );

        // Removal deletes the user with their invitations and sessions.
        let sid2 = sessions
            .create(session_for(&bob.user.id))
            .await
            .expect("session");
        d.remove_user(&actor, &bob.user.id).await.expect("remove");
        assert!(d.user(&bob.user.id).await.expect("get").is_none());
        assert!(
            d.invitations_of(&bob.user.id)
                .await
                .expect("list")
                .is_empty()
        );
        let store3 = SqlSessionStore::open(&url).await.expect("store");
        assert!(store3.get(sid2.key()).await.expect("get").is_none());
    }
}

#[tokio::test]
async fn groups_assignments_keys_and_members_on_every_backend() {
    let dir = tempfile::tempdir().expect("dir");
    for (backend, url) in common::databases::test_databases(dir.path()).await {
        let d = Directory::open(&url).await.expect(backend);
        let actor = Actor::Cli;
        let g = d
            .create_group(
                &actor,
                "partners",
                Some("Partner staff"),
                &["owner@contoso.example".into()],
            )
            .await
            .expect("group");
        assert!(d.create_group(&actor, "partners", None, &[]).await.is_err());
        let carol = d
            .invite(
                &actor,
                &new_invitation(
                    &addr("carol@fabrikam.example"),
                    "carol_fabrikam.example#EXT#@contoso.example",
                    &[],
                ),
            )
            .await
            .expect("invite")
            .user;
        assert!(d.assigned_apps(&carol.id).await.expect("apps").is_empty());
        d.set_assignment(&actor, "wiki", Principal::Group(&g.id), true)
            .await
            .expect("assign group");
        d.set_membership(&actor, "partners", &carol.id, true)
            .await
            .expect("member");
        assert_eq!(
            d.assigned_apps(&carol.id).await.expect("apps"),
            vec!["wiki"]
        );
        d.set_assignment(&actor, "hr", Principal::User(&carol.id), true)
            .await
            .expect("assign user");
        assert_eq!(
            d.assigned_apps(&carol.id).await.expect("apps"),
            vec!["hr", "wiki"]
        );
        let group = d.group("partners").await.expect("group");
        assert_eq!(group.members, vec!["carol@fabrikam.example"]);
        assert_eq!(group.owners, vec!["owner@contoso.example"]);
        d.delete_group(&actor, &g.id).await.expect("delete group");
        assert_eq!(d.assigned_apps(&carol.id).await.expect("apps"), vec!["hr"]);

        // Members from a trusted IdP are created on first sign-in, pinned.
        let m = d
            .create_member(
                "dave@contoso.example",
                "Dave",
                ("corp", "https://corp.test", "d1"),
            )
            .await
            .expect("member");
        assert_eq!(m.user_type, UserType::Member);
        assert_eq!(m.state, UserState::Accepted);

        // Admin keys: shown once, stored hashed, revocable.
        let (key, secret) = d.create_admin_key(&actor, "ci").await.expect("key");
        assert!(secret.starts_with("blk_"));
        assert_eq!(
            d.verify_admin_key(&secret)
                .await
                .expect("verify")
                .as_deref(),
            Some("ci")
        );
        assert_eq!(d.verify_admin_key("blk_wrong").await.expect("verify"), None);
        d.revoke_admin_key(&actor, &key.name).await.expect("revoke");
        assert_eq!(d.verify_admin_key(&secret).await.expect("verify"), None);

        // Disabling ends sessions.
        d.set_disabled(&actor, &carol.id, true)
            .await
            .expect("disable");
        assert!(
            d.user(&carol.id)
                .await
                .expect("get")
                .expect("user")
                .disabled
        );
        let actions: Vec<String> = d
            .audit_since(0, 1000)
            .await
            .expect("audit")
            .into_iter()
            .map(|e| e.action)
            .collect();
        for a in [
            "group.created",
            "assignment.added",
            "group.member_added",
            "group.deleted",
            "admin_key.created",
            "admin_key.revoked",
            "user.disabled",
            "user.member_created",
        ] {
            assert!(
                actions.iter().any(|x| x == a),
                "{backend}: no {a} in {actions:?}"
            );
        }
    }
}

#[tokio::test]
async fn session_store_round_trips_on_every_backend() {
    let dir = tempfile::tempdir().expect("dir");
    for (backend, url) in common::databases::test_databases(dir.path()).await {
        let store = SqlSessionStore::open(&url).await.expect(backend);
        let mut s = new_session_for("user-1");
        s.attributes = [
            ("email".to_string(), vec!["a@b.example".to_string()]),
            (
                "groups".to_string(),
                vec!["g1".to_string(), "g2".to_string()],
            ),
        ]
        .into();
        s.amr = vec!["pwd".into(), "mfa".into()];
        s.acr = Some("urn:example:silver".into());
        let s = Session::from(s);
        // MFA the gateway performed survives the store too.
        let stepped = s.with_mfa(
            borderless::policy::Strength::PhishingResistant,
            1_800_000_000,
            "hwk",
        );
        assert_eq!(
            stepped.amr().collect::<Vec<_>>(),
            ["pwd", "mfa", "hwk"],
            "the method joins the IdP's amr, mfa once"
        );
        let stepped_id = borderless::session::SessionId::random();
        store
            .insert(stepped_id.key(), &stepped)
            .await
            .expect("insert");
        assert_eq!(
            store.get(stepped_id.key()).await.expect("get"),
            Some(stepped),
            "{backend}"
        );
        store.delete(stepped_id.key()).await.expect("delete");
        let id = borderless::session::SessionId::random();
        store.insert(id.key(), &s).await.expect("insert");
        assert_eq!(
            store.get(id.key()).await.expect("get"),
            Some(s.clone()),
            "{backend}"
        );
        let keys = store.delete_user("user-1").await.expect("delete user");
        assert_eq!(keys, vec![id.key()]);
        assert!(store.get(id.key()).await.expect("get").is_none());
        let mut old = session_for("user-2");
        old.expires_at = 1;
        store
            .insert(borderless::session::SessionId::random().key(), &old)
            .await
            .expect("insert");
        assert_eq!(store.purge_expired(10).await.expect("purge"), 1);
    }
}

/// The batched read behind cache misses: every key gets its own session back, however many
/// are asked for at once (padded statements, more than one query's worth), and unknown
/// keys get nothing.
#[tokio::test]
async fn sessions_are_read_many_at_once_on_every_backend() {
    use borderless::session::SessionId;
    let dir = tempfile::tempdir().expect("dir");
    for (backend, url) in common::databases::test_databases(dir.path()).await {
        let store = SqlSessionStore::open(&url).await.expect("session store");
        let mut keys = Vec::new();
        for i in 0..70 {
            let key = SessionId::random().key();
            let mut s = new_session_for(&format!("user-{i}"));
            s.subject = format!("subject-{i}");
            // Every field set, so that both stored forms are compared whole below.
            s.attributes = [
                ("email", vec![format!("u{i}@partner.example")]),
                ("groups", vec!["a".into(), "b,c".into(), "Zoë".into()]),
                ("empty", vec![]),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            s.amr = vec!["pwd".into(), "otp".into()];
            s.acr = Some("urn:acr:silver".into());
            s.mfa = Some((borderless::policy::Strength::Mfa, s.auth_time + i));
            store.insert(key, &Session::from(s)).await.expect("insert");
            keys.push(key);
        }
        let unknown: Vec<_> = (0..3).map(|_| SessionId::random().key()).collect();
        let subject_of = |found: &borderless::session::Found, key| -> Option<String> {
            let mut matching = found.iter().filter(|(k, _)| *k == key);
            let s = matching.next().map(|(_, s)| match s {
                Ok(s) => s.subject().to_string(),
                Err(e) => format!("error: {e}"),
            });
            assert!(
                matching.next().is_none(),
                "{backend}: a key came back twice"
            );
            s
        };
        // 70 known and 3 unknown keys: two queries (64 + 9, the second padded to 16).
        let asked: Vec<_> = keys.iter().chain(&unknown).copied().collect();
        let found = store.get_many(&asked).await.expect("get_many");
        assert_eq!(found.len(), 70, "{backend}");
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(
                subject_of(&found, *key).as_deref(),
                Some(format!("subject-{i}").as_str()),
                "{backend}: session {i}"
            );
        }
        assert!(unknown.iter().all(|k| subject_of(&found, *k).is_none()));
        // Three keys, padded to four with the last again: three sessions, none twice.
        let found = store.get_many(&keys[5..8]).await.expect("get_many");
        assert_eq!(found.len(), 3, "{backend}");
        assert_eq!(subject_of(&found, keys[7]).as_deref(), Some("subject-7"));
        assert!(store.get_many(&[]).await.expect("none").is_empty());
        // A record that cannot be read fails only its own key, not the others read with it.
        let db = borderless::db::Db::open(&url).await.expect("db");
        let as_written = store.get(keys[3]).await.expect("get").expect("session");
        let update = |sql: &'static str, key: SessionKey| {
            sqlx::query(sql).bind(key.to_hex()).execute(&db.pool)
        };
        sqlx::query("UPDATE sessions SET record = $2 WHERE id_hash = $1")
            .bind(keys[1].to_hex())
            .bind(vec![1u8, 0xff, 0xff])
            .execute(&db.pool)
            .await
            .expect("corrupt one record");
        // Sessions written before records were are read from the columns: one whole, one
        // with attributes that are no JSON.
        for key in [keys[3], keys[4]] {
            update("UPDATE sessions SET record = NULL WHERE id_hash = $1", key)
                .await
                .expect("no record");
        }
        update(
            "UPDATE sessions SET attributes = 'not json' WHERE id_hash = $1",
            keys[4],
        )
        .await
        .expect("corrupt the columns");
        let found = store.get_many(&keys[0..5]).await.expect("get_many");
        assert_eq!(found.len(), 5, "{backend}");
        assert_eq!(subject_of(&found, keys[0]).as_deref(), Some("subject-0"));
        assert_eq!(subject_of(&found, keys[2]).as_deref(), Some("subject-2"));
        assert_eq!(
            store.get(keys[3]).await.expect("get").as_ref(),
            Some(&as_written),
            "{backend}: the columns read back what the record held"
        );
        let broken = subject_of(&found, keys[4]).unwrap_or_default();
        assert!(broken.contains("corrupt record"), "{backend}: {broken}");
        let broken = subject_of(&found, keys[1]).unwrap_or_default();
        assert!(broken.contains("corrupt record"), "{backend}: {broken}");
    }
}
