//! Hard limits applied while parsing, so hostile input costs bounded work.

/// Bounds on what [`crate::Message::parse`] accepts.
///
/// Defaults suit a contact-center server: UDP datagrams are at most 64 KiB,
/// and a real gateway INVITE has 15-30 header lines and 1-4 Via values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole message (start line, headers and body) in bytes. Default 65,535.
    pub max_message: usize,
    /// Most header lines (folded continuations count with their header). Default 128.
    pub max_headers: usize,
    /// Longest single line, in bytes, before folding is joined. Default 8,192.
    pub max_line: usize,
    /// Most Via values across all Via header lines. Default 64.
    pub max_vias: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_message: 65_535, max_headers: 128, max_line: 8_192, max_vias: 64 }
    }
}
