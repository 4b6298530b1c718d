//! RFC 3261 section 17 transaction tests, one file per section, driven on a virtual
//! clock over an in-memory lossy network.

mod harness;
mod lossy_link;
mod section_17_1_1;
mod section_17_1_2;
mod section_17_2_1;
mod section_17_2_2;
