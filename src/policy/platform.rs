//! The client platform, as Conditional Access's "device platforms" condition sees it: read
//! from the User-Agent, which the client chooses. A condition on it narrows who a policy
//! applies to; it is never proof of anything (Entra says the same), so a policy that must
//! hold for everyone should not be scoped by platform alone.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Platform {
    Android,
    Ios,
    Windows,
    Macos,
    Linux,
    ChromeOs,
    /// No User-Agent, or one naming none of the above.
    Other,
}

impl Platform {
    pub const ALL: [Platform; 7] = [
        Platform::Android,
        Platform::Ios,
        Platform::Windows,
        Platform::Macos,
        Platform::Linux,
        Platform::ChromeOs,
        Platform::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Platform::Android => "android",
            Platform::Ios => "ios",
            Platform::Windows => "windows",
            Platform::Macos => "macos",
            Platform::Linux => "linux",
            Platform::ChromeOs => "chromeos",
            Platform::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The platform of a request, from its User-Agent.
    pub fn of_request(headers: &http::HeaderMap) -> Self {
        Self::from_user_agent(
            headers
                .get(http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok()),
        )
    }

    /// The platform a User-Agent names. Order matters: Android agents also say "Linux",
    /// iPhone agents also say "like Mac OS X", ChromeOS agents also say "Linux".
    pub fn from_user_agent(ua: Option<&str>) -> Self {
        let Some(ua) = ua else {
            return Platform::Other;
        };
        if ua.contains("Android") {
            Platform::Android
        } else if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
            Platform::Ios
        } else if ua.contains("CrOS") {
            Platform::ChromeOs
        } else if ua.contains("Windows") {
            Platform::Windows
        } else if ua.contains("Macintosh") || ua.contains("Mac OS X") {
            Platform::Macos
        } else if ua.contains("Linux") || ua.contains("X11") {
            Platform::Linux
        } else {
            Platform::Other
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Platform::{self, *};

    #[test]
    fn real_user_agents_name_their_platform() {
        let cases = [
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Mobile Safari/537.36",
                Android,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
                Ios,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
                Windows,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
                Macos,
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                Linux,
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
                ChromeOs,
            ),
            ("curl/8.5.0", Other),
        ];
        for (ua, want) in cases {
            assert_eq!(Platform::from_user_agent(Some(ua)), want, "{ua}");
        }
        assert_eq!(Platform::from_user_agent(None), Other);
    }

    #[test]
    fn names_round_trip() {
        for p in Platform::ALL {
            assert_eq!(Platform::parse(p.name()), Some(p));
        }
        assert_eq!(Platform::parse("beos"), None);
    }
}
