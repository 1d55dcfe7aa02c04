//! Email over SMTP (lettre): invitations and sign-in passcodes, multipart text + HTML from
//! templates, sent outside the request path. Every invitation's outcome is written to its
//! delivery status, so a failure is visible and `resend` can retry; nothing depends on the
//! send succeeding.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{SmtpSettings, file::SmtpSecurity};
use crate::directory::{Directory, EmailStatus};

/// Everything one invitation email says.
#[derive(Debug, Clone)]
pub struct InvitationMail {
    pub invitation_id: String,
    pub to: String,
    pub to_name: String,
    pub inviter: String,
    pub organization: String,
    pub logo_url: Option<String>,
    pub support: Option<String>,
    pub app_name: String,
    pub message: Option<String>,
    pub link: String,
    pub expires_at: i64,
}

/// What both bodies (text and HTML) say.
struct Fields<'a> {
    organization: &'a str,
    logo_url: &'a Option<String>,
    inviter: &'a str,
    app_name: &'a str,
    email: &'a str,
    message: &'a Option<String>,
    link: &'a str,
    expires: &'a str,
    support: &'a Option<String>,
}

#[derive(Template)]
#[template(path = "mail/invitation.html")]
struct HtmlBody<'a> {
    f: &'a Fields<'a>,
}

#[derive(Template)]
#[template(path = "mail/invitation.txt")]
struct TextBody<'a> {
    f: &'a Fields<'a>,
}

/// What a passcode email says.
pub struct PasscodeMail<'a> {
    pub to: &'a str,
    pub code: &'a str,
    pub minutes: u64,
    pub organization: &'a str,
    pub logo_url: &'a Option<String>,
}

#[derive(Template)]
#[template(path = "mail/passcode.html")]
struct PasscodeHtml<'a> {
    f: &'a PasscodeMail<'a>,
}

#[derive(Template)]
#[template(path = "mail/passcode.txt")]
struct PasscodeText<'a> {
    f: &'a PasscodeMail<'a>,
}

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn new(s: &SmtpSettings) -> anyhow::Result<Self> {
        let tls_params = || -> anyhow::Result<TlsParameters> {
            let mut b = TlsParameters::builder(s.host.clone());
            if let Some(ca) = &s.ca_file {
                let pem = std::fs::read(ca)?;
                b = b.add_root_certificate(Certificate::from_pem(&pem)?);
            }
            Ok(b.build_rustls()?)
        };
        let tls = match s.security {
            SmtpSecurity::Starttls => Tls::Required(tls_params()?),
            SmtpSecurity::Tls => Tls::Wrapper(tls_params()?),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host)
            .port(s.port)
            .tls(tls)
            .timeout(Some(s.timeout));
        if let Some((user, pass)) = &s.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from: s.from.parse()?,
        })
    }

    pub fn render(&self, m: &InvitationMail) -> anyhow::Result<Message> {
        let expires =
            httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(m.expires_at.max(0) as u64));
        let fields = Fields {
            organization: &m.organization,
            logo_url: &m.logo_url,
            inviter: &m.inviter,
            app_name: &m.app_name,
            email: &m.to,
            message: &m.message,
            link: &m.link,
            expires: &expires,
            support: &m.support,
        };
        let html = HtmlBody { f: &fields }.render()?;
        let text = TextBody { f: &fields }.render()?;
        let to = Mailbox::new(Some(m.to_name.clone()), m.to.parse()?);
        Ok(Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!(
                "{} invited you to {} at {}",
                m.inviter, m.app_name, m.organization
            ))
            .date(SystemTime::now())
            .multipart(MultiPart::alternative_plain_html(text, html))?)
    }

    /// Sends a sign-in passcode. The code is in the body only, never in the subject, which
    /// mail clients show in notifications on a locked screen.
    pub async fn send_passcode(&self, m: &PasscodeMail<'_>) -> anyhow::Result<()> {
        let html = PasscodeHtml { f: m }.render()?;
        let text = PasscodeText { f: m }.render()?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, m.to.parse()?))
            .subject(format!("Your sign-in code for {}", m.organization))
            .date(SystemTime::now())
            .multipart(MultiPart::alternative_plain_html(text, html))?;
        self.transport.send(msg).await?;
        Ok(())
    }

    async fn send_one(&self, m: &InvitationMail) -> anyhow::Result<()> {
        let msg = self.render(m)?;
        self.transport.send(msg).await?;
        Ok(())
    }

    /// Sends each mail and records the outcome on its invitation. Runs as its own task.
    pub async fn deliver(&self, dir: &Directory, mails: Vec<InvitationMail>) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        for m in mails {
            let outcome = self.send_one(&m).await;
            let (status, error) = match &outcome {
                Ok(()) => (EmailStatus::Sent, None),
                Err(e) => (EmailStatus::Failed, Some(format!("{e:#}"))),
            };
            match &error {
                None => report.sent += 1,
                Some(e) => {
                    tracing::warn!(invitation = %m.invitation_id, to = %m.to, "invitation email failed: {e}");
                    report.failed.push((m.to.clone(), e.clone()));
                }
            }
            if let Err(e) = dir
                .set_email_status(&m.invitation_id, status, error.as_deref())
                .await
            {
                tracing::error!(invitation = %m.invitation_id, "recording email status failed: {e}");
            }
        }
        report
    }

    /// Starts delivery in the background; the handle tells the outcome to those who wait.
    pub fn spawn(
        &self,
        dir: &Directory,
        mails: Vec<InvitationMail>,
    ) -> tokio::task::JoinHandle<DeliveryReport> {
        let mailer = self.clone();
        let dir = dir.clone();
        tokio::spawn(async move { mailer.deliver(&dir, mails).await })
    }
}

#[derive(Debug, Default)]
pub struct DeliveryReport {
    pub sent: usize,
    /// (recipient, reason)
    pub failed: Vec<(String, String)>,
}
