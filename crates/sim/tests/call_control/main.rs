//! Call control after the answer, at one site (issue 23): hold and retrieve from the
//! desktop and from the phone, single-step transfer (to an extension, back to the
//! transferrer when unanswered, to a Routing Point), redirection of a ringing call,
//! two-step transfers, a phone's REFER, UserData during the call, and the requests that
//! must be refused without touching the call. Flows run with seeded loss and duplication
//! where they say so; one file per concept.

mod common;
mod consult;
mod hold;
mod phone;
mod requests;
mod sweep;
mod transfer;
