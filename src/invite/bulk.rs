//! Bulk invitation from a CSV file in the shape of Azure's bulk-invite template:
//!
//! ```text
//! version:v1.0                                            (optional, as Azure writes it)
//! Email address to invite [inviteeEmail] Required,Display name [invitedUserDisplayName],Redirection url [inviteRedirectURL] Required,Send invitation message (true or false) [sendEmail],Customized invitation message [customizedMessageBody]
//! alice@fabrikam.example,Alice,https://hr.contoso.example/,true,Welcome!
//! ```
//! Columns are found by the bracketed Azure name or a plain header (`email`, `display name`,
//! `redirect url`, `send message`, `message`). Every row is checked first; bad rows are
//! reported with their line number and the good ones are written in one transaction.

use std::collections::HashMap;

use serde::Serialize;

use super::{Checked, InviteError, InviteInput, Inviter};
use crate::directory::Actor;
use crate::directory::address::Address;
use crate::directory::invitations::InviteResult;

/// Azure's limit per file; more is refused before anything is written.
pub const MAX_ROWS: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Email,
    DisplayName,
    RedirectUrl,
    SendEmail,
    Message,
}

fn column_of(header: &str) -> Option<Column> {
    let h = header.trim().to_ascii_lowercase();
    let key = match (h.rfind('['), h.rfind(']')) {
        (Some(a), Some(b)) if a < b => h[a + 1..b].to_string(),
        _ => h.replace(['_', '-'], " "),
    };
    match key.as_str() {
        "inviteeemail"
        | "invitedemail"
        | "invitedusermailaddress"
        | "inviteduseremailaddress"
        | "email"
        | "email address"
        | "email address to invite" => Some(Column::Email),
        "inviteduserdisplayname" | "displayname" | "display name" | "name" => {
            Some(Column::DisplayName)
        }
        "inviteredirecturl" | "redirecturl" | "redirect url" | "redirection url" => {
            Some(Column::RedirectUrl)
        }
        "sendemail"
        | "sendinvitationmessage"
        | "send message"
        | "send email"
        | "send invitation message" => Some(Column::SendEmail),
        "customizedmessagebody" | "message" | "customized invitation message" => {
            Some(Column::Message)
        }
        _ => None,
    }
}

/// The outcome of one data row.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    pub line: u64,
    pub email: String,
    /// `invited`, `reinvited`, `alreadyAccepted` or `error`.
    pub status: String,
    pub error: Option<String>,
    pub user_id: Option<String>,
    pub redeem_url: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BulkReport {
    pub rows: Vec<RowResult>,
    pub invited: usize,
    pub failed: usize,
}

impl RowResult {
    /// A good row; status and ids are filled in once it is written.
    fn pending(line: u64, email: &str) -> Self {
        Self {
            line,
            email: email.to_string(),
            status: String::new(),
            error: None,
            user_id: None,
            redeem_url: None,
        }
    }

    fn error(line: u64, email: &str, why: String) -> Self {
        Self {
            status: "error".into(),
            error: Some(why),
            ..Self::pending(line, email)
        }
    }
}

/// One CSV record as an invitation request; `Err` carries (email, reason).
fn row_input(
    columns: &HashMap<Column, usize>,
    r: &csv::StringRecord,
) -> Result<InviteInput, (String, String)> {
    let field = |c: Column| {
        columns
            .get(&c)
            .and_then(|i| r.get(*i))
            .unwrap_or("")
            .to_string()
    };
    let email = field(Column::Email);
    let send_email = parse_bool(&field(Column::SendEmail)).map_err(|e| (email.clone(), e))?;
    Ok(InviteInput {
        display_name: Some(field(Column::DisplayName)),
        redirect_url: Some(field(Column::RedirectUrl)).filter(|u| !u.is_empty()),
        apps: vec![],
        groups: vec![],
        message: Some(field(Column::Message)),
        send_email,
        email,
    })
}

impl BulkReport {
    pub fn to_csv(&self) -> anyhow::Result<Vec<u8>> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["line", "email", "status", "error", "userId", "redeemUrl"])?;
        for r in &self.rows {
            w.write_record([
                r.line.to_string().as_str(),
                &r.email,
                &r.status,
                r.error.as_deref().unwrap_or(""),
                r.user_id.as_deref().unwrap_or(""),
                r.redeem_url.as_deref().unwrap_or(""),
            ])?;
        }
        Ok(w.into_inner()?)
    }
}

/// The 1-based line a record starts on. The csv crate's own line count skips blank lines,
/// which would make reported line numbers disagree with the operator's editor.
/// A record's position can point at blank lines before it, so those are stepped over.
fn line_at(text: &str, byte: u64) -> u64 {
    let bytes = text.as_bytes();
    let mut end = (byte as usize).min(bytes.len());
    while end < bytes.len() && (bytes[end] == b'\n' || bytes[end] == b'\r') {
        end += 1;
    }
    bytes[..end].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "" | "true" | "yes" | "1" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        other => Err(format!("send message must be true or false, not `{other}`")),
    }
}

impl Inviter {
    /// Invites every good row of a CSV file; see the module docs for the format.
    /// `Err` only for problems with the file as a whole (no header, too many rows).
    pub async fn invite_csv(
        &self,
        actor: &Actor,
        data: &[u8],
    ) -> Result<(BulkReport, Option<super::MailHandle>), InviteError> {
        let text = std::str::from_utf8(data)
            .map_err(|e| InviteError::Invalid(format!("the file is not UTF-8 text: {e}")))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        // Azure's template starts with a `version:v1.0` line before the header.
        let (skipped, body) = match text.split_once('\n') {
            Some((first, rest)) if first.trim().to_ascii_lowercase().starts_with("version:") => {
                (1, rest)
            }
            _ => (0, text),
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(body.as_bytes());
        let headers = reader
            .headers()
            .map_err(|e| InviteError::Invalid(format!("cannot read the header row: {e}")))?
            .clone();
        let mut columns: HashMap<Column, usize> = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            if let Some(c) = column_of(h) {
                columns.entry(c).or_insert(i);
            }
        }
        if !columns.contains_key(&Column::Email) {
            return Err(InviteError::Invalid(format!(
                "line {}: the header row has no email column (expected `Email address to invite [inviteeEmail]` or `email`)",
                skipped + 1
            )));
        }
        let mut records = Vec::new();
        for rec in reader.records() {
            match rec {
                Ok(r) if r.iter().all(|f| f.is_empty()) => continue,
                Ok(r) => records.push(Ok(r)),
                Err(e) => records.push(Err(e)),
            }
            if records.len() > MAX_ROWS {
                return Err(InviteError::Invalid(format!(
                    "the file has more than {MAX_ROWS} rows; split it into files of at most {MAX_ROWS}. Nothing was invited."
                )));
            }
        }

        let mut rows: Vec<RowResult> = Vec::with_capacity(records.len());
        let mut good: Vec<(usize, Checked)> = Vec::new();
        let mut seen: HashMap<String, u64> = HashMap::new();
        for rec in records {
            let r = match rec {
                Ok(r) => r,
                Err(e) => {
                    let line = e.position().map_or(0, |p| line_at(body, p.byte())) + skipped;
                    rows.push(RowResult::error(line, "", format!("unreadable row: {e}")));
                    continue;
                }
            };
            let line = r.position().map_or(0, |p| line_at(body, p.byte())) + skipped;
            let input = match row_input(&columns, &r) {
                Ok(i) => i,
                Err((email, why)) => {
                    rows.push(RowResult::error(line, &email, why));
                    continue;
                }
            };
            let first = Address::parse(&input.email)
                .ok()
                .and_then(|a| seen.get(a.as_str()).copied());
            if let Some(first) = first {
                let why = format!("duplicate of line {first} in this file");
                rows.push(RowResult::error(line, &input.email, why));
                continue;
            }
            match self.check(actor, &input).await {
                Ok(c) => {
                    seen.insert(c.email.as_str().to_string(), line);
                    rows.push(RowResult::pending(line, c.email.as_str()));
                    good.push((rows.len() - 1, c));
                }
                Err(e) => rows.push(RowResult::error(line, &input.email, e.to_string())),
            }
        }

        let batch: Vec<_> = good.iter().map(|(_, c)| self.new_invitation(c)).collect();
        let invited = self.dir.invite_many(actor, &batch).await?;
        let mut mails = Vec::new();
        for ((idx, checked), inv) in good.iter().zip(invited) {
            let (report, mail) = self.report(actor, checked, inv);
            let row = &mut rows[*idx];
            row.status = match report.result {
                InviteResult::Invited => "invited",
                InviteResult::Reinvited => "reinvited",
                InviteResult::AlreadyAccepted => "alreadyAccepted",
            }
            .into();
            row.user_id = Some(report.user.id);
            row.redeem_url = report.redeem_url;
            mails.extend(mail);
        }
        let failed = rows.iter().filter(|r| r.status == "error").count();
        let handle = self.send(mails);
        Ok((
            BulkReport {
                invited: rows.len() - failed,
                failed,
                rows,
            },
            handle,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_columns_by_azure_names_and_plain_headers() {
        assert_eq!(
            column_of("Email address to invite [inviteeEmail] Required"),
            Some(Column::Email)
        );
        assert_eq!(
            column_of("Redirection url [inviteRedirectURL] Required"),
            Some(Column::RedirectUrl)
        );
        assert_eq!(
            column_of("Send invitation message (true or false) [sendEmail]"),
            Some(Column::SendEmail)
        );
        assert_eq!(column_of("display_name"), Some(Column::DisplayName));
        assert_eq!(column_of("Message"), Some(Column::Message));
        assert_eq!(column_of("phone"), None);
        assert_eq!(parse_bool("TRUE"), Ok(true));
        assert!(parse_bool("maybe").is_err());
    }
}
