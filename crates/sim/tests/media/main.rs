//! Media anchoring (issue 24, `[site.media]`) against a scripted media partner: every
//! description that crosses a call is the partner's, the sessions are deleted when the
//! call ends, and a partner that fails, refuses or answers late never stalls a call.

mod anchoring;
mod answered;
mod common;
mod conference;
mod failures;
mod pair;
mod recording;
mod sounds;
mod transfers;
