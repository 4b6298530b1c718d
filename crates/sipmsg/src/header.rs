//! Header names (long and compact forms) and raw header fields.

use std::fmt;

/// A header field as it stands in the message: its name as written and its raw value.
///
/// The value is trimmed of surrounding white space but otherwise untouched; a folded
/// value keeps its inner CRLF + white space, which every typed parser treats as LWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header<'a> {
    /// The recognised name, or [`HeaderName::Other`].
    pub name: HeaderName,
    /// The name exactly as written (case and compact form preserved).
    pub raw_name: &'a str,
    /// The raw value.
    pub value: &'a str,
}

macro_rules! header_names {
    ($( $variant:ident => $long:literal $(, $compact:literal)? ; )*) => {
        /// Header names Tandem knows; everything else is [`HeaderName::Other`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum HeaderName {
            $( #[doc = $long] $variant, )*
            /// Any header Tandem does not interpret (kept and passed on as raw text).
            Other,
        }

        impl HeaderName {
            /// The canonical long form, as Tandem prints it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $long, )*
                    Self::Other => "Other",
                }
            }

            /// Recognises a header name, case-insensitively, in long or compact form.
            pub fn from_name(name: &str) -> Self {
                let bytes = name.as_bytes();
                if bytes.len() == 1 {
                    return Self::from_compact(bytes[0].to_ascii_lowercase());
                }
                $( if name.eq_ignore_ascii_case($long) { return Self::$variant; } )*
                Self::Other
            }

            fn from_compact(c: u8) -> Self {
                $( $( if c == $compact { return Self::$variant; } )? )*
                Self::Other
            }
        }
    };
}

header_names! {
    Via => "Via", b'v';
    From => "From", b'f';
    To => "To", b't';
    CallId => "Call-ID", b'i';
    CSeq => "CSeq";
    MaxForwards => "Max-Forwards";
    Contact => "Contact", b'm';
    ContentLength => "Content-Length", b'l';
    ContentType => "Content-Type", b'c';
    ContentEncoding => "Content-Encoding", b'e';
    Route => "Route";
    RecordRoute => "Record-Route";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    Authorization => "Authorization";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthorization => "Proxy-Authorization";
    ProxyAuthenticate => "Proxy-Authenticate";
    Allow => "Allow";
    Supported => "Supported", b'k';
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    Subject => "Subject", b's';
    Accept => "Accept";
    Date => "Date";
    UserAgent => "User-Agent";
    Server => "Server";
    Event => "Event", b'o';
    ReferTo => "Refer-To", b'r';
}

impl HeaderName {
    /// Headers that may appear at most once in a message (RFC 3261 section 7.3.1).
    pub fn is_single(self) -> bool {
        matches!(
            self,
            Self::From
                | Self::To
                | Self::CallId
                | Self::CSeq
                | Self::MaxForwards
                | Self::ContentType
                | Self::Expires
                | Self::MinExpires
        )
    }

    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "header names are an open set: every header not named takes the default"
    )]
    pub(crate) fn malformed_reason(self) -> &'static str {
        match self {
            Self::Via => "Bad Request - Malformed Via",
            Self::From => "Bad Request - Malformed From",
            Self::To => "Bad Request - Malformed To",
            Self::CallId => "Bad Request - Malformed Call-ID",
            Self::CSeq => "Bad Request - Malformed CSeq",
            Self::MaxForwards => "Bad Request - Malformed Max-Forwards",
            Self::Contact => "Bad Request - Malformed Contact",
            Self::Expires => "Bad Request - Malformed Expires",
            Self::Date => "Bad Request - Malformed Date",
            _ => "Bad Request - Malformed Header",
        }
    }

    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "header names are an open set: every header not named takes the default"
    )]
    pub(crate) fn missing_reason(self) -> &'static str {
        match self {
            Self::Via => "Bad Request - Missing Via",
            Self::From => "Bad Request - Missing From",
            Self::To => "Bad Request - Missing To",
            Self::CallId => "Bad Request - Missing Call-ID",
            Self::CSeq => "Bad Request - Missing CSeq",
            _ => "Bad Request - Missing Header",
        }
    }

    #[allow(
        clippy::wildcard_enum_match_arm,
        reason = "header names are an open set: every header not named takes the default"
    )]
    pub(crate) fn duplicate_reason(self) -> &'static str {
        match self {
            Self::From => "Bad Request - Duplicate From",
            Self::To => "Bad Request - Duplicate To",
            Self::CallId => "Bad Request - Duplicate Call-ID",
            Self::CSeq => "Bad Request - Duplicate CSeq",
            Self::ContentLength => "Bad Request - Conflicting Content-Length",
            _ => "Bad Request - Duplicate Header",
        }
    }

    pub(crate) fn bit(self) -> u64 {
        1u64 << (self as u8)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_forms_are_recognised_case_insensitively() {
        assert_eq!(HeaderName::from_name("v"), HeaderName::Via);
        assert_eq!(HeaderName::from_name("V"), HeaderName::Via);
        assert_eq!(HeaderName::from_name("vIA"), HeaderName::Via);
        assert_eq!(HeaderName::from_name("i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_name("call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::from_name("l"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_name("m"), HeaderName::Contact);
        assert_eq!(HeaderName::from_name("C%6Fntact"), HeaderName::Other);
        assert_eq!(HeaderName::from_name("x"), HeaderName::Other);
    }

    #[test]
    fn every_known_name_fits_the_seen_bitmask() {
        assert!((HeaderName::Other as u8) < 64);
    }
}
